import { describe, expect, it } from "vitest";
import {
  decodeStrategyState,
  encodeStrategyState,
  StrategyStateDecodeError,
} from "./strategy-state-codec.js";
import type { StrategyState } from "./types.js";

const state: StrategyState = {
  vectors: {
    m: Float32Array.from([0.03, -0.02, 0, -0, 3.4e38, 1e-45]),
    v: Float32Array.from([Number.NaN, Number.POSITIVE_INFINITY]),
    empty: new Float32Array(0),
    "clé-ü": Float32Array.from([1]),
  },
  scalars: { clipNorm: 0.123456789012345, round: 7, minusInfinity: Number.NEGATIVE_INFINITY },
};

describe("strategy state codec", () => {
  it("round-trips vectors bit for bit and scalars as float64", () => {
    const decoded = decodeStrategyState(encodeStrategyState(state));
    expect(Object.keys(decoded.vectors).sort()).toEqual(Object.keys(state.vectors).sort());
    for (const [key, vector] of Object.entries(state.vectors)) {
      expect(decoded.vectors[key]).toBeInstanceOf(Float32Array);
      // Compare the bytes: toEqual would accept 0 for −0 and cannot see NaN payloads.
      expect(new Uint8Array(decoded.vectors[key].buffer)).toEqual(new Uint8Array(vector.buffer));
    }
    expect(decoded.scalars).toEqual(state.scalars);
  });

  it("encodes equal states to equal bytes whatever the key order", () => {
    const reordered: StrategyState = {
      vectors: Object.fromEntries(Object.entries(state.vectors).reverse()),
      scalars: Object.fromEntries(Object.entries(state.scalars).reverse()),
    };
    expect(encodeStrategyState(reordered)).toEqual(encodeStrategyState(state));
  });

  it("decodes from a view into a larger buffer", () => {
    const bytes = encodeStrategyState(state);
    const padded = new Uint8Array(bytes.length + 5);
    padded.set(bytes, 3);
    const decoded = decodeStrategyState(padded.subarray(3, 3 + bytes.length));
    expect(decoded.scalars.round).toBe(7);
  });

  it("keeps a __proto__ key as data", () => {
    const tricky: StrategyState = { vectors: {}, scalars: JSON.parse('{"__proto__": 5}') };
    const decoded = decodeStrategyState(encodeStrategyState(tricky));
    expect(Object.getPrototypeOf(decoded.scalars)).toBe(Object.prototype);
    expect(Object.entries(decoded.scalars)).toEqual([["__proto__", 5]]);
  });

  it("round-trips an empty state", () => {
    expect(decodeStrategyState(encodeStrategyState({ vectors: {}, scalars: {} }))).toEqual({
      vectors: {},
      scalars: {},
    });
  });

  describe("rejects", () => {
    const bytes = encodeStrategyState(state);
    it.each([
      ["truncated bytes", bytes.subarray(0, bytes.length - 1), /truncated/],
      ["a header alone", bytes.subarray(0, 5), /truncated/],
      ["a wrong magic", Uint8Array.from([0x50, ...bytes.subarray(1)]), /not a strategy state/],
      [
        "an unknown version",
        Uint8Array.from([...bytes.subarray(0, 4), 9, ...bytes.subarray(5)]),
        /version 9/,
      ],
      ["trailing bytes", Uint8Array.from([...bytes, 0]), /trailing/],
      ["nothing", new Uint8Array(0), /truncated/],
    ])("%s", (_, corrupt, message) => {
      expect(() => decodeStrategyState(corrupt)).toThrow(StrategyStateDecodeError);
      expect(() => decodeStrategyState(corrupt)).toThrow(message);
    });

    it("a key that appears twice", () => {
      // Two scalars both named "a": FPSS v1, no vectors, 2 scalars.
      const scalar = [1, 0, 0x61, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f]; // "a" = 1.0
      const duplicate = Uint8Array.from([
        0x46,
        0x50,
        0x53,
        0x53,
        1,
        0,
        0,
        0,
        0,
        2,
        0,
        0,
        0,
        ...scalar,
        ...scalar,
      ]);
      expect(() => decodeStrategyState(duplicate)).toThrow(/appears twice/);
    });

    it("a key that is not UTF-8", () => {
      const badKey = Uint8Array.from([
        0x46, 0x50, 0x53, 0x53, 1, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0xff, 0, 0, 0, 0, 0, 0, 0, 0,
      ]);
      expect(() => decodeStrategyState(badKey)).toThrow(/not valid UTF-8/);
    });
  });
});
