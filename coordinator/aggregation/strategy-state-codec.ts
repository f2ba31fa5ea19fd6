import { InvalidArgumentError } from "../../common/errors.js";
import type { StrategyState } from "./types.js";

/**
 * Binary form of a StrategyState, so that a strategy's memory survives between rounds in
 * the content-addressed blob store and any worker can pick up the next round.
 *
 * Layout, little-endian throughout:
 *
 *     "FPSS"  u8 version (1)
 *     u32 vectorCount, then per vector: u16 keyBytes, UTF-8 key, u32 length, f32 × length
 *     u32 scalarCount, then per scalar: u16 keyBytes, UTF-8 key, f64 value
 *
 * Keys are written in sorted order, so equal states encode to equal bytes and therefore to
 * the same blob hash, whatever order the strategy inserted them in.
 */
const MAGIC = [0x46, 0x50, 0x53, 0x53]; // "FPSS"
const VERSION = 1;
const MAX_KEY_BYTES = 0xffff;

/** Bytes that are not a StrategyState this codec wrote. */
export class StrategyStateDecodeError extends InvalidArgumentError {
  override name = "StrategyStateDecodeError";
}

export function encodeStrategyState(state: StrategyState): Uint8Array {
  const encoder = new TextEncoder();
  const vectors = sortedEntries(state.vectors).map(([key, values]) => ({
    key: encodeKey(encoder, key),
    values,
  }));
  const scalars = sortedEntries(state.scalars).map(([key, value]) => ({
    key: encodeKey(encoder, key),
    value,
  }));

  let size = MAGIC.length + 1 + 4 + 4;
  for (const { key, values } of vectors) size += 2 + key.length + 4 + 4 * values.length;
  for (const { key } of scalars) size += 2 + key.length + 8;

  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  bytes.set(MAGIC, 0);
  let offset = MAGIC.length;
  view.setUint8(offset, VERSION);
  offset += 1;

  const writeKey = (key: Uint8Array): void => {
    view.setUint16(offset, key.length, true);
    bytes.set(key, offset + 2);
    offset += 2 + key.length;
  };
  view.setUint32(offset, vectors.length, true);
  offset += 4;
  for (const { key, values } of vectors) {
    writeKey(key);
    view.setUint32(offset, values.length, true);
    offset += 4;
    for (let j = 0; j < values.length; j++, offset += 4) view.setFloat32(offset, values[j], true);
  }
  view.setUint32(offset, scalars.length, true);
  offset += 4;
  for (const { key, value } of scalars) {
    writeKey(key);
    view.setFloat64(offset, value, true);
    offset += 8;
  }
  return bytes;
}

export function decodeStrategyState(bytes: Uint8Array): StrategyState {
  const reader = new Reader(bytes);
  for (const expected of MAGIC) {
    if (reader.u8() !== expected) throw new StrategyStateDecodeError("not a strategy state blob");
  }
  const version = reader.u8();
  if (version !== VERSION) {
    throw new StrategyStateDecodeError(`unsupported strategy state version ${version}`);
  }
  // Entries are collected and turned into objects with fromEntries, which defines own
  // properties: a key such as "__proto__" stays data instead of rewiring the prototype.
  const vectors = new Map<string, Float32Array>();
  const vectorCount = reader.u32();
  for (let i = 0; i < vectorCount; i++) {
    const key = reader.key(vectors);
    const values = new Float32Array(reader.u32());
    reader.need(4 * values.length);
    for (let j = 0; j < values.length; j++) values[j] = reader.f32();
    vectors.set(key, values);
  }
  const scalars = new Map<string, number>();
  const scalarCount = reader.u32();
  for (let i = 0; i < scalarCount; i++) {
    scalars.set(reader.key(scalars), reader.f64());
  }
  if (reader.remaining() !== 0) {
    throw new StrategyStateDecodeError("strategy state blob has trailing bytes", {
      details: `${reader.remaining()} bytes after the last scalar`,
    });
  }
  return { vectors: Object.fromEntries(vectors), scalars: Object.fromEntries(scalars) };
}

function sortedEntries<T>(record: Record<string, T>): [string, T][] {
  return Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

function encodeKey(encoder: TextEncoder, key: string): Uint8Array {
  const bytes = encoder.encode(key);
  if (bytes.length > MAX_KEY_BYTES) {
    throw new InvalidArgumentError(`strategy state key is too long (${bytes.length} bytes)`);
  }
  return bytes;
}

/** Bounds-checked sequential reads; every failure is a StrategyStateDecodeError. */
class Reader {
  private offset = 0;
  private readonly bytes: Uint8Array;
  private readonly view: DataView;
  // fatal: a key with invalid UTF-8 is corruption, not something to paper over with U+FFFD.
  private readonly decoder = new TextDecoder("utf-8", { fatal: true });

  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  remaining(): number {
    return this.bytes.length - this.offset;
  }

  need(count: number): void {
    if (count > this.remaining()) {
      throw new StrategyStateDecodeError("strategy state blob is truncated", {
        details: `needed ${count} more bytes at offset ${this.offset}, ${this.remaining()} left`,
      });
    }
  }

  u8(): number {
    this.need(1);
    return this.view.getUint8(this.offset++);
  }

  u32(): number {
    this.need(4);
    const value = this.view.getUint32(this.offset, true);
    this.offset += 4;
    return value;
  }

  f32(): number {
    const value = this.view.getFloat32(this.offset, true);
    this.offset += 4;
    return value;
  }

  f64(): number {
    this.need(8);
    const value = this.view.getFloat64(this.offset, true);
    this.offset += 8;
    return value;
  }

  key(existing: ReadonlyMap<string, unknown>): string {
    this.need(2);
    const length = this.view.getUint16(this.offset, true);
    this.offset += 2;
    this.need(length);
    let key: string;
    try {
      key = this.decoder.decode(this.bytes.subarray(this.offset, this.offset + length));
    } catch (cause) {
      throw new StrategyStateDecodeError("strategy state key is not valid UTF-8", { cause });
    }
    this.offset += length;
    if (existing.has(key)) {
      throw new StrategyStateDecodeError(`strategy state key "${key}" appears twice`);
    }
    return key;
  }
}
