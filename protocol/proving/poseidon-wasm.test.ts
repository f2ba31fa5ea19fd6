import { describe, expect, it } from "vitest";
import { FIELD_MODULUS } from "./field.js";
import {
  poseidonPermutationBigInt,
  poseidonSponge,
  poseidonWasmPermutation,
  SPONGE_RATE,
} from "./poseidon.js";

const P = FIELD_MODULUS;

/** The sponge on the BigInt permutation alone, as poseidon.ts defines it. */
function referenceSponge(elements: readonly bigint[]): bigint {
  let state: bigint[] = new Array(SPONGE_RATE + 1).fill(0n);
  state[0] = BigInt(elements.length);
  for (let start = 0; start < elements.length; start += SPONGE_RATE) {
    for (let j = 0; j < SPONGE_RATE; j++) {
      const element = elements[start + j];
      if (element !== undefined) state[j + 1] = (state[j + 1]! + element) % P;
    }
    state = poseidonPermutationBigInt(state);
  }
  return state[0]!;
}

describe("Poseidon in WebAssembly", () => {
  it("computes the BigInt permutation at every width, edge values included", () => {
    for (let t = 2; t <= 17; t++) {
      const wasm = poseidonWasmPermutation(t);
      expect(wasm, `width ${t} compiles`).toBeDefined();
      const states = [
        new Array<bigint>(t).fill(0n),
        new Array<bigint>(t).fill(P - 1n),
        Array.from({ length: t }, (_, i) => (i % 2 ? P - 1n : 1n)),
        Array.from({ length: t }, (_, i) => BigInt(i + t) ** 60n % P),
        Array.from({ length: t }, (_, i) => (1n << BigInt(200 + i)) - 1n),
      ];
      for (const state of states)
        expect(wasm!.permute(state)).toEqual(poseidonPermutationBigInt(state));
    }
  });

  it("sponges like the BigInt permutation over one, two and three blocks", () => {
    for (const length of [1, 16, 17, 27, 40]) {
      const elements = Array.from({ length }, (_, i) => (BigInt(i + 3) ** 50n + BigInt(i)) % P);
      expect(poseidonSponge(elements)).toBe(referenceSponge(elements));
    }
    expect(poseidonSponge([P - 1n, 0n, P - 1n])).toBe(referenceSponge([P - 1n, 0n, P - 1n]));
  });
});
