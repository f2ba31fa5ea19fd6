import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  base8,
  derivePublicKey,
  signPoseidon,
  verifyPoseidon,
} from "../protocol/proving/eddsa-poseidon.js";
import { FIELD_MODULUS } from "../protocol/proving/field.js";
import { CIRCOMLIB_DIR, CIRCUITS_DIR } from "./compile-circuit.js";

describe("constants the circuits hard-code", () => {
  it("SQRT_MINUS_ONE in update-norm.circom squares to −1", () => {
    const source = readFileSync(join(CIRCUITS_DIR, "update-norm.circom"), "utf8");
    const i = BigInt(/function SQRT_MINUS_ONE\(\) \{\s*return (\d+);/.exec(source)![1]);
    expect((i * i) % FIELD_MODULUS).toBe(FIELD_MODULUS - 1n);
  });

  it("Baby Jubjub Base8 in the JS signer is circomlib's BASE8", () => {
    const source = readFileSync(join(CIRCOMLIB_DIR, "eddsaposeidon.circom"), "utf8");
    const [, x, y] = /var BASE8\[2\] = \[\s*(\d+),\s*(\d+)\s*\]/.exec(source)!;
    expect(base8()).toEqual({ x: BigInt(x), y: BigInt(y) });
  });

  it("EdDSA-Poseidon signatures verify, and only for their key and message", () => {
    const key = new Uint8Array(32).fill(3);
    const publicKey = derivePublicKey(key);
    const signature = signPoseidon(key, 1234n);
    expect(verifyPoseidon(publicKey, 1234n, signature)).toBe(true);
    expect(verifyPoseidon(publicKey, 1235n, signature)).toBe(false);
    expect(verifyPoseidon(derivePublicKey(new Uint8Array(32).fill(4)), 1234n, signature)).toBe(
      false,
    );
  });
});
