import { InvalidArgumentError } from "../../common/errors.js";
import type { BabyJubjubPublicKey, EddsaPoseidonSignature } from "./eddsa-poseidon.js";
import { bigIntToBytes, bytesToBigInt, FIELD_MODULUS } from "./field.js";

/**
 * Byte encodings for the proof-related fields of the gRPC messages (JoinRequest.public_key,
 * dataset_commitment, dataset_signature; UpdateHeader.commitment and the salt): big-endian
 * 32-byte field elements, concatenated.
 */

export function encodeFieldElement(value: bigint): Uint8Array {
  return bigIntToBytes(value, 32);
}

export function decodeFieldElement(bytes: Uint8Array, what: string): bigint {
  if (bytes.length !== 32)
    throw new InvalidArgumentError(`${what} must be 32 bytes, got ${bytes.length}`);
  const value = bytesToBigInt(bytes);
  if (value >= FIELD_MODULUS)
    throw new InvalidArgumentError(`${what} is not a BN254 field element`);
  return value;
}

/** x ‖ y, 64 bytes. */
export function encodePublicKey(key: BabyJubjubPublicKey): Uint8Array {
  const bytes = new Uint8Array(64);
  bytes.set(encodeFieldElement(key.x), 0);
  bytes.set(encodeFieldElement(key.y), 32);
  return bytes;
}

export function decodePublicKey(bytes: Uint8Array): BabyJubjubPublicKey {
  if (bytes.length !== 64)
    throw new InvalidArgumentError(`a Baby Jubjub public key is 64 bytes, got ${bytes.length}`);
  return {
    x: decodeFieldElement(bytes.subarray(0, 32), "public key x"),
    y: decodeFieldElement(bytes.subarray(32), "public key y"),
  };
}

/** R8x ‖ R8y ‖ S, 96 bytes. */
export function encodeSignature(signature: EddsaPoseidonSignature): Uint8Array {
  const bytes = new Uint8Array(96);
  bytes.set(encodeFieldElement(signature.R8x), 0);
  bytes.set(encodeFieldElement(signature.R8y), 32);
  bytes.set(encodeFieldElement(signature.S), 64);
  return bytes;
}

export function decodeSignature(bytes: Uint8Array): EddsaPoseidonSignature {
  if (bytes.length !== 96)
    throw new InvalidArgumentError(`an EdDSA-Poseidon signature is 96 bytes, got ${bytes.length}`);
  return {
    R8x: decodeFieldElement(bytes.subarray(0, 32), "signature R8x"),
    R8y: decodeFieldElement(bytes.subarray(32, 64), "signature R8y"),
    S: decodeFieldElement(bytes.subarray(64), "signature S"),
  };
}
