import { babyjubjub } from "@noble/curves/misc";
import { blake512 } from "@noble/hashes/blake1";
import { InvalidArgumentError } from "../../common/errors.js";
import { toField } from "./field.js";
import { poseidonHash } from "./poseidon.js";

/**
 * EdDSA over Baby Jubjub with Poseidon as the challenge hash: the scheme circomlib's
 * `EdDSAPoseidonVerifier` checks. Key and nonce derivation follow circomlibjs (BLAKE-512 of
 * the private key, pruned), which is not installed here, so compatibility with keys made by
 * circomlibjs is by construction and not by test; the circuit itself is the test
 * (data-validity.test.ts).
 *
 * Curve arithmetic is noble's twisted-Edwards code with the Baby Jubjub parameters
 * (a = 168700, d = 168696); noble's generator is circomlib's `Generator`, and
 * Base8 = 8·Generator generates the prime-order subgroup the scheme works in.
 */

const Point = babyjubjub.ExtendedPoint;
/** Order of the prime-order subgroup (noble's `n` is the full group order 8·ℓ). */
export const SUBGROUP_ORDER = babyjubjub.CURVE.n / 8n;
const BASE8 = Point.BASE.multiply(8n);

export interface BabyJubjubPublicKey {
  x: bigint;
  y: bigint;
}

export interface EddsaPoseidonSignature {
  R8x: bigint;
  R8y: bigint;
  S: bigint;
}

function littleEndian(bytes: Uint8Array): bigint {
  let value = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[i]);
  return value;
}

function toLittleEndian(value: bigint, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  let rest = value;
  for (let i = 0; i < length; i++) {
    bytes[i] = Number(rest & 0xffn);
    rest >>= 8n;
  }
  return bytes;
}

/** The secret scalar s (a multiple of 8) and the nonce prefix, from a 32-byte private key. */
function expandKey(privateKey: Uint8Array): { s: bigint; prefix: Uint8Array } {
  if (privateKey.length !== 32)
    throw new InvalidArgumentError("a Baby Jubjub private key is 32 bytes");
  const digest = blake512(privateKey);
  const scalar = digest.slice(0, 32);
  // Pruning as in Ed25519: clear the cofactor bits, fix the top bits.
  scalar[0] &= 0xf8;
  scalar[31] &= 0x7f;
  scalar[31] |= 0x40;
  return { s: littleEndian(scalar), prefix: digest.slice(32, 64) };
}

/** A fresh random private key (Web Crypto, so it works on any platform). */
export function randomPrivateKey(): Uint8Array {
  const key = new Uint8Array(32);
  globalThis.crypto.getRandomValues(key);
  return key;
}

export function derivePublicKey(privateKey: Uint8Array): BabyJubjubPublicKey {
  const { s } = expandKey(privateKey);
  const { x, y } = BASE8.multiply(s >> 3n).toAffine();
  return { x, y };
}

/** Signs one field element (the dataset commitment). Deterministic, as in EdDSA. */
export function signPoseidon(privateKey: Uint8Array, message: bigint): EddsaPoseidonSignature {
  const { s, prefix } = expandKey(privateKey);
  const m = toField(message);
  const nonceInput = new Uint8Array(64);
  nonceInput.set(prefix, 0);
  nonceInput.set(toLittleEndian(m, 32), 32);
  const r = littleEndian(blake512(nonceInput)) % SUBGROUP_ORDER;
  const R8 = BASE8.multiplyUnsafe(r).toAffine();
  const A = BASE8.multiply(s >> 3n).toAffine();
  const h = poseidonHash([R8.x, R8.y, A.x, A.y, m]);
  const S = (r + h * s) % SUBGROUP_ORDER;
  return { R8x: R8.x, R8y: R8.y, S };
}

/** S·Base8 = R8 + 8·h·A, h = Poseidon(R8, A, message): what the circuit checks. */
export function verifyPoseidon(
  publicKey: BabyJubjubPublicKey,
  message: bigint,
  signature: EddsaPoseidonSignature,
): boolean {
  try {
    if (signature.S >= SUBGROUP_ORDER) return false;
    const A = Point.fromAffine({ x: publicKey.x, y: publicKey.y });
    const R8 = Point.fromAffine({ x: signature.R8x, y: signature.R8y });
    A.assertValidity();
    R8.assertValidity();
    const h = poseidonHash([
      signature.R8x,
      signature.R8y,
      publicKey.x,
      publicKey.y,
      toField(message),
    ]);
    const left = BASE8.multiplyUnsafe(signature.S);
    const right = R8.add(A.multiplyUnsafe(8n).multiplyUnsafe(h));
    return left.equals(right);
  } catch {
    return false;
  }
}

/** Base8's affine coordinates (the circuit hard-codes them; a test compares). */
export function base8(): BabyJubjubPublicKey {
  const { x, y } = BASE8.toAffine();
  return { x, y };
}
