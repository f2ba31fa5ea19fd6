import { sha256 } from "@noble/hashes/sha2";
import { bytesToHex } from "@noble/hashes/utils";
import { InvalidArgumentError } from "../../common/errors.js";
import type { ExactAggregate } from "./exact-aggregate.js";

/**
 * The canonical bytes of a round's exact aggregate; their sha256 is the round's `aggregateHash`,
 * which the round record (and the anchor) commit to and the provenance bundle carries.
 *
 * Layout, little-endian throughout, no padding:
 *
 *     "FPAG"  u8 version (1)  u8 flags (bit 0: noised, central DP; other bits 0)
 *     u32 length  u64 weight W
 *     i64 × length: S_j
 *
 * Every field has one encoding (flags' unused bits must be 0, W ≥ 1, |S_j| ≤ 2^53 − 1), so one
 * aggregate has exactly one byte string and hence one hash.
 */
const MAGIC = [0x46, 0x50, 0x41, 0x47]; // "FPAG"
export const AGGREGATE_FORMAT_VERSION = 1;
const HEADER_BYTES = 4 + 1 + 1 + 4 + 8;
const FLAG_NOISED = 1;
const MAX_EXACT = BigInt(Number.MAX_SAFE_INTEGER);

/** Bytes that are not an aggregate this codec wrote. */
export class AggregateDecodeError extends InvalidArgumentError {
  override name = "AggregateDecodeError";
}

export function encodeAggregate(aggregate: ExactAggregate): Uint8Array {
  const { sum, weight } = aggregate;
  if (!Number.isSafeInteger(weight) || weight <= 0) {
    throw new InvalidArgumentError(`aggregate weight must be a positive integer, got ${weight}`);
  }
  if (sum.length > 0xffff_ffff) throw new InvalidArgumentError("aggregate is too long");
  const bytes = new Uint8Array(HEADER_BYTES + 8 * sum.length);
  const view = new DataView(bytes.buffer);
  bytes.set(MAGIC, 0);
  view.setUint8(4, AGGREGATE_FORMAT_VERSION);
  view.setUint8(5, aggregate.noised ? FLAG_NOISED : 0);
  view.setUint32(6, sum.length, true);
  view.setBigUint64(10, BigInt(weight), true);
  for (let j = 0; j < sum.length; j++) {
    const value = sum[j]!;
    if (!Number.isSafeInteger(value)) {
      throw new InvalidArgumentError(
        `aggregate value ${value} at coordinate ${j} is not an exact integer`,
      );
    }
    view.setBigInt64(HEADER_BYTES + 8 * j, BigInt(value), true);
  }
  return bytes;
}

/** Inverse of encodeAggregate, for untrusted bytes; checks the length when `expectedLength` is given. */
export function decodeAggregate(bytes: Uint8Array, expectedLength?: number): ExactAggregate {
  if (bytes.byteLength < HEADER_BYTES) {
    throw new AggregateDecodeError(
      `aggregate is truncated: ${bytes.byteLength} bytes, the header alone has ${HEADER_BYTES}`,
    );
  }
  for (let i = 0; i < MAGIC.length; i++) {
    if (bytes[i] !== MAGIC[i]) throw new AggregateDecodeError("not an aggregate (no FPAG header)");
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint8(4);
  if (version !== AGGREGATE_FORMAT_VERSION) {
    throw new AggregateDecodeError(`unsupported aggregate version ${version}`);
  }
  const flags = view.getUint8(5);
  if ((flags & ~FLAG_NOISED) !== 0) {
    throw new AggregateDecodeError(`aggregate has unknown flags 0x${flags.toString(16)}`);
  }
  const length = view.getUint32(6, true);
  if (bytes.byteLength !== HEADER_BYTES + 8 * length) {
    throw new AggregateDecodeError(
      `aggregate of ${length} values must have ${HEADER_BYTES + 8 * length} bytes, got ${bytes.byteLength}`,
    );
  }
  if (expectedLength !== undefined && length !== expectedLength) {
    throw new AggregateDecodeError(
      `aggregate has ${length} values, the model has ${expectedLength}`,
    );
  }
  const weight = view.getBigUint64(10, true);
  if (weight === 0n || weight > MAX_EXACT) {
    throw new AggregateDecodeError(`aggregate weight ${weight} is not in [1, 2^53 − 1]`);
  }
  const sum = new Float64Array(length);
  for (let j = 0; j < length; j++) {
    const value = view.getBigInt64(HEADER_BYTES + 8 * j, true);
    if (value > MAX_EXACT || value < -MAX_EXACT) {
      throw new AggregateDecodeError(
        `aggregate value ${value} at coordinate ${j} is outside ±(2^53 − 1)`,
      );
    }
    sum[j] = Number(value);
  }
  return { sum, weight: Number(weight), noised: (flags & FLAG_NOISED) !== 0 };
}

/** sha256 of the encoded aggregate, lowercase hex without 0x (as the artifact store names blobs). */
export function aggregateHashOf(bytes: Uint8Array): string {
  return bytesToHex(sha256(bytes));
}
