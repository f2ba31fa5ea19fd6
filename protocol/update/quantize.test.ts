import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../common/errors.js";
import { createRng } from "../random.js";
import {
  bytesPerValue,
  decodeUpdate,
  dequantize,
  encodeUpdate,
  maxQuantized,
  quantize,
  squaredNormQuantized,
} from "./quantize.js";

describe("quantize", () => {
  it("round-trips within half a step per coordinate", () => {
    const rng = createRng(5);
    for (const bits of [4, 8, 16, 24]) {
      const scale = 1 / 2 ** (bits - 3);
      const range = maxQuantized(bits) * scale;
      const values = Float32Array.from({ length: 2000 }, () => (2 * rng.next() - 1) * range);
      const q = quantize(values, { bits, scale });
      const restored = dequantize(q, scale);
      for (let i = 0; i < values.length; i++) {
        expect(Math.abs(restored[i] - values[i])).toBeLessThanOrEqual(scale / 2 + 1e-6 * range);
        expect(Math.abs(q[i])).toBeLessThanOrEqual(maxQuantized(bits));
      }
    }
  });

  it("is symmetric: quantize(-x) = -quantize(x)", () => {
    const values = Float32Array.from([0.5, 1.5, 2.5, -0.5, -1.5]);
    const q = quantize(values, { bits: 8, scale: 1 });
    expect(Array.from(q)).toEqual([1, 2, 3, -1, -2]);
  });

  it("rejects values outside the range instead of saturating", () => {
    expect(maxQuantized(8)).toBe(127);
    expect(() => quantize(Float32Array.from([127]), { bits: 8, scale: 1 })).not.toThrow();
    expect(() => quantize(Float32Array.from([0, -127.6]), { bits: 8, scale: 1 })).toThrow(
      /index 1/,
    );
    expect(() => quantize(Float32Array.from([Number.NaN]), { bits: 8, scale: 1 })).toThrow(
      InvalidArgumentError,
    );
    expect(() => quantize(Float32Array.from([0]), { bits: 1, scale: 1 })).toThrow(
      InvalidArgumentError,
    );
    expect(() => quantize(Float32Array.from([0]), { bits: 8, scale: 0 })).toThrow(
      InvalidArgumentError,
    );
  });

  it("rounds stochastically without bias on average", () => {
    const rng = createRng(6);
    const values = new Float32Array(20_000).fill(0.3);
    const q = quantize(values, { bits: 8, scale: 1, stochastic: true, rng });
    let sum = 0;
    for (const value of q) {
      expect(value === 0 || value === 1).toBe(true);
      sum += value;
    }
    // Bernoulli(0.3): standard error √(0.21/20000) ≈ 0.0032.
    expect(Math.abs(sum / q.length - 0.3)).toBeLessThan(0.02);
    const negative = quantize(new Float32Array(20_000).fill(-2.75), {
      bits: 8,
      scale: 1,
      stochastic: true,
      rng,
    });
    const mean = negative.reduce((total, value) => total + value, 0) / negative.length;
    expect(Math.abs(mean + 2.75)).toBeLessThan(0.02);
    expect(() => quantize(values, { bits: 8, scale: 1, stochastic: true })).toThrow(/rng/);
  });

  it("computes the exact squared norm, also beyond 2^53", () => {
    expect(squaredNormQuantized(Int32Array.from([3, -4]))).toBe(25n);
    const big = new Int32Array(4).fill(2 ** 31 - 1);
    expect(squaredNormQuantized(big)).toBe(4n * (2n ** 31n - 1n) ** 2n);
  });
});

describe("encodeUpdate / decodeUpdate", () => {
  it.each([
    [2, 1],
    [8, 1],
    [9, 2],
    [16, 2],
    [17, 4],
    [32, 4],
  ])("round-trips %i-bit values including negatives (%i bytes each)", (bits, width) => {
    expect(bytesPerValue(bits)).toBe(width);
    const max = maxQuantized(bits);
    const q = Int32Array.from([0, 1, -1, max, -max, Math.trunc(max / 3), -Math.trunc(max / 2)]);
    const bytes = encodeUpdate(q, bits);
    expect(bytes.byteLength).toBe(q.length * width);
    expect(decodeUpdate(bytes, bits, q.length)).toEqual(q);
  });

  it("writes little-endian", () => {
    expect(Array.from(encodeUpdate(Int32Array.from([-2]), 16))).toEqual([0xfe, 0xff]);
    expect(Array.from(encodeUpdate(Int32Array.from([258]), 32))).toEqual([2, 1, 0, 0]);
  });

  it("names expected and actual byte counts on a wrong length", () => {
    const bytes = encodeUpdate(Int32Array.from([1, 2, 3]), 16);
    expect(() => decodeUpdate(bytes, 16, 4)).toThrow(/6 bytes, expected 8/);
    expect(() => decodeUpdate(bytes.subarray(1), 16, 3)).toThrow(InvalidArgumentError);
  });

  it("rejects values outside the bit range", () => {
    // -128 fits int8 but not the symmetric 8-bit range.
    expect(() => decodeUpdate(Uint8Array.from([0x80]), 8, 1)).toThrow(/-128/);
    // 100 fits a byte but not 6 bits (±31).
    expect(() => decodeUpdate(Uint8Array.from([100]), 6, 1)).toThrow(InvalidArgumentError);
    expect(() => encodeUpdate(Int32Array.from([200]), 8)).toThrow(InvalidArgumentError);
  });

  it("decodes from an offset inside a larger buffer", () => {
    const bytes = encodeUpdate(Int32Array.from([-5, 7]), 32);
    const padded = new Uint8Array(bytes.length + 3);
    padded.set(bytes, 3);
    expect(Array.from(decodeUpdate(padded.subarray(3), 32, 2))).toEqual([-5, 7]);
  });
});
