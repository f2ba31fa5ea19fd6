import { sha256 } from "@noble/hashes/sha2";
import { InvalidArgumentError } from "../../common/errors.js";

/**
 * The BN254 scalar field: every circuit signal, Poseidon input and public signal lives in it.
 * `Number` cannot hold its elements, so everything here is a bigint in [0, p).
 */
export const FIELD_MODULUS =
  21888242871839275222246405745257275088548364400416034343698204186575808495617n;

/** Reduces any integer, negative ones included, to its representative in [0, p). */
export function toField(value: bigint): bigint {
  const r = value % FIELD_MODULUS;
  return r < 0n ? r + FIELD_MODULUS : r;
}

/** Parses a decimal public signal; rejects anything that is not a canonical field element. */
export function parseFieldElement(text: string, what: string): bigint {
  if (!/^[0-9]{1,78}$/.test(text)) {
    throw new InvalidArgumentError(`${what} must be a decimal field element, got "${text}"`);
  }
  const value = BigInt(text);
  if (value >= FIELD_MODULUS) {
    throw new InvalidArgumentError(`${what} is not below the BN254 scalar field modulus`);
  }
  return value;
}

/**
 * A string identifier (job id, device id) as one field element: SHA-256 of its UTF-8 bytes,
 * truncated to 248 bits. Truncating rather than reducing modulo p keeps the map uniform and
 * leaves 124 bits of collision resistance, enough that two ids never share an element.
 */
export function idToField(id: string): bigint {
  if (id.length === 0) throw new InvalidArgumentError("an id bound into a proof must not be empty");
  const digest = sha256(new TextEncoder().encode(id));
  return bytesToBigInt(digest.subarray(0, 31));
}

/**
 * A 32-byte hash (hex, with or without 0x) as two 128-bit halves: one field element holds
 * only 253 bits, so a full SHA-256 digest would otherwise be silently reduced modulo p.
 */
export function hashToFieldPair(hexHash: string): [high: bigint, low: bigint] {
  const hex = hexHash.startsWith("0x") ? hexHash.slice(2) : hexHash;
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) {
    throw new InvalidArgumentError(`expected a 32-byte hex hash, got "${hexHash}"`);
  }
  return [BigInt(`0x${hex.slice(0, 32)}`), BigInt(`0x${hex.slice(32)}`)];
}

/** Big-endian bytes to an unsigned integer. */
export function bytesToBigInt(bytes: Uint8Array): bigint {
  let value = 0n;
  for (const byte of bytes) value = (value << 8n) | BigInt(byte);
  return value;
}

/** An unsigned integer as `length` big-endian bytes (throws if it does not fit). */
export function bigIntToBytes(value: bigint, length = 32): Uint8Array {
  if (value < 0n || value >= 1n << BigInt(8 * length)) {
    throw new InvalidArgumentError(`${value} does not fit in ${length} bytes`);
  }
  const bytes = new Uint8Array(length);
  let rest = value;
  for (let i = length - 1; i >= 0; i--) {
    bytes[i] = Number(rest & 0xffn);
    rest >>= 8n;
  }
  return bytes;
}

/**
 * A field element drawn uniformly from all of [0, p) by rejection (254-bit draws, about one in
 * four rejected): for values whose hiding argument needs the whole field, such as the KZG
 * blinding coefficients, where randomFieldElement's 253 bits would leave half the field out.
 */
export function uniformFieldElement(): bigint {
  const bytes = new Uint8Array(32);
  for (;;) {
    globalThis.crypto.getRandomValues(bytes);
    bytes[0] &= 0x3f;
    const value = bytesToBigInt(bytes);
    if (value < FIELD_MODULUS) return value;
  }
}

/** A uniformly random field element from a cryptographic source (salts, nonces). */
export function randomFieldElement(): bigint {
  const bytes = new Uint8Array(32);
  // Web Crypto exists in browsers and in Node ≥ 19 as a global, so the core stays portable.
  globalThis.crypto.getRandomValues(bytes);
  // 253 bits: uniform and always below p.
  bytes[0] &= 0x1f;
  return bytesToBigInt(bytes);
}
