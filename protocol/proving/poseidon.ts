import { Field } from "@noble/curves/abstract/modular";
import { grainGenConstants, poseidon } from "@noble/curves/abstract/poseidon";
import { InvalidArgumentError } from "../../common/errors.js";
import { FIELD_MODULUS } from "./field.js";

/**
 * Poseidon over BN254, the instance circomlib's `Poseidon`/`PoseidonEx` implement: x⁵
 * S-box, 8 full rounds, circomlib's partial-round counts, and round constants and MDS
 * matrices from the reference Grain LFSR. The constants are generated (noble's
 * `grainGenConstants`), never copied by hand; `poseidon.test.ts` checks the result against
 * the published circomlib vector and against the compiled circuits.
 */

/** Partial rounds for state width t = 2..17, as in circomlib's `poseidon.circom`. */
const PARTIAL_ROUNDS = [56, 57, 56, 60, 60, 63, 64, 63, 60, 66, 60, 65, 70, 60, 64, 68];

export const POSEIDON_MAX_WIDTH = 17;

const Fp = Field(FIELD_MODULUS);
const permutations = new Map<number, (state: bigint[]) => bigint[]>();

function permutationFor(width: number): (state: bigint[]) => bigint[] {
  let permutation = permutations.get(width);
  if (!permutation) {
    if (!Number.isInteger(width) || width < 2 || width > POSEIDON_MAX_WIDTH) {
      throw new InvalidArgumentError(`Poseidon state width must be 2..17, got ${width}`);
    }
    const options = {
      Fp,
      t: width,
      roundsFull: 8,
      roundsPartial: PARTIAL_ROUNDS[width - 2],
      sboxPower: 5,
    };
    permutation = poseidon({ ...options, ...grainGenConstants(options) });
    permutations.set(width, permutation);
  }
  return permutation;
}

/** The full Poseidon permutation of a state of width 2..17 (circomlib `PoseidonEx` with every output). */
export function poseidonPermutation(state: readonly bigint[]): bigint[] {
  return permutationFor(state.length)([...state]);
}

/** circomlib `Poseidon(n)`: the permutation of [0, ...inputs], first element out; 1..16 inputs. */
export function poseidonHash(inputs: readonly bigint[]): bigint {
  if (inputs.length < 1 || inputs.length > POSEIDON_MAX_WIDTH - 1) {
    throw new InvalidArgumentError(`Poseidon takes 1..16 inputs, got ${inputs.length}`);
  }
  return poseidonPermutation([0n, ...inputs])[0];
}

export const SPONGE_RATE = 16;

/**
 * The sponge the circuits use for long inputs: width 17, rate 16, capacity 1, capacity
 * initialised to the number of absorbed elements, last block zero-padded, output the
 * capacity element. Mirrors `PoseidonSponge` in `poseidon-sponge.circom`.
 */
export function poseidonSponge(elements: readonly bigint[]): bigint {
  if (elements.length === 0) throw new InvalidArgumentError("cannot hash an empty sequence");
  let state: bigint[] = new Array(SPONGE_RATE + 1).fill(0n);
  state[0] = BigInt(elements.length);
  for (let start = 0; start < elements.length; start += SPONGE_RATE) {
    for (let j = 0; j < SPONGE_RATE; j++) {
      const element = elements[start + j];
      if (element !== undefined) state[j + 1] = Fp.add(state[j + 1], Fp.create(element));
    }
    state = poseidonPermutation(state);
  }
  return state[0];
}

/**
 * Hash of a variable-length list whose length the circuit fixes: circomlib's Poseidon for up
 * to 16 elements, the sponge beyond. Mirrors `HashElements` in `poseidon-sponge.circom`.
 */
export function hashElements(elements: readonly bigint[]): bigint {
  return elements.length <= POSEIDON_MAX_WIDTH - 1
    ? poseidonHash(elements)
    : poseidonSponge(elements);
}
