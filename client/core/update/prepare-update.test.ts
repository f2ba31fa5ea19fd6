import { describe, expect, it } from "vitest";
import { createRng } from "../../../protocol/random.js";
import {
  cryptoUniform,
  defaultQuantizationScale,
  dequantize,
  quantize,
  quantizedNormBound,
} from "../../../protocol/update/quantize.js";
import { prepareUpdate } from "./prepare-update.js";

/** A dense update of n coordinates with norm `norm`, like a model's delta. */
function delta(n: number, norm: number, seed: number): Float32Array {
  const rng = createRng(seed);
  const v = Float32Array.from({ length: n }, () => rng.normal());
  const length = Math.hypot(...v.subarray(0, Math.min(n, 50_000)));
  const scaleBy = norm / (length * Math.sqrt(n / Math.min(n, 50_000)));
  return v.map((x) => x * scaleBy);
}

describe("prepareUpdate", () => {
  it.each([4, 8, 16])("keeps Σ q² within the bound with stochastic rounding at %i bits", (bits) => {
    const clipNorm = 2;
    const scale = clipNorm / (2 ** (bits - 1) - 1);
    const update = prepareUpdate({
      delta: delta(20_000, 5, bits),
      clipNorm,
      bits,
      scale,
      stochastic: true,
    });
    expect(update.squaredNormQ).toBeLessThanOrEqual(quantizedNormBound(clipNorm, scale));
    expect(update.q.some((v) => v !== 0)).toBe(true);
    const max = 2 ** (bits - 1) - 1;
    expect(update.q.every((v) => Math.abs(v) <= max)).toBe(true);
  });

  it("keeps most of a 199,210-parameter update at 4 bits with the job's default step", () => {
    const clipNorm = 5;
    const parameters = 199_210; // the Fashion-MNIST mlp
    const full = delta(parameters, clipNorm, 7);
    const results = [4, 8].map((bits) => {
      const scale = defaultQuantizationScale({ clipNorm, bits, parameterCount: parameters });
      const update = prepareUpdate({ delta: full, clipNorm, bits, scale, stochastic: true });
      expect(update.squaredNormQ).toBeLessThanOrEqual(quantizedNormBound(clipNorm, scale));
      const sent = dequantize(update.q, scale);
      let along = 0;
      for (let i = 0; i < parameters; i++) along += sent[i]! * full[i]!;
      // The update's component along Δ: 0.11 of 5 with the old step C/7 (49 coordinates ±1).
      return along / clipNorm;
    });
    expect(results[0]).toBeGreaterThan(0.75 * clipNorm);
    expect(results[1]).toBeGreaterThan(0.9 * clipNorm);
  });

  it("clips coordinates beyond the range instead of refusing them", () => {
    const values = new Float32Array(1000).fill(0.001);
    values[3] = 4;
    values[9] = -4;
    const update = prepareUpdate({ delta: values, clipNorm: 5, bits: 4, scale: 0.01 });
    expect(update.q[3]).toBe(7);
    expect(update.q[9]).toBe(-7);
  });

  it("rounds without bias from the CSPRNG by default", () => {
    const values = new Float32Array(40_000).fill(0.37);
    const q = quantize(values, { bits: 4, scale: 1, stochastic: true, rng: cryptoUniform() });
    const mean = q.reduce((a, b) => a + b, 0) / q.length;
    // Bernoulli(0.37): standard error ≈ 0.0024.
    expect(Math.abs(mean - 0.37)).toBeLessThan(0.015);
    const a = prepareUpdate({ delta: values, clipNorm: 1e6, bits: 4, scale: 1, stochastic: true });
    const b = prepareUpdate({ delta: values, clipNorm: 1e6, bits: 4, scale: 1, stochastic: true });
    expect(Array.from(a.q)).not.toEqual(Array.from(b.q));
  });

  it("draws uniform values in [0, 1)", () => {
    const source = cryptoUniform();
    let sum = 0;
    for (let i = 0; i < 10_000; i++) {
      const x = source.next();
      expect(x >= 0 && x < 1).toBe(true);
      sum += x;
    }
    expect(Math.abs(sum / 10_000 - 0.5)).toBeLessThan(0.02);
  });
});
