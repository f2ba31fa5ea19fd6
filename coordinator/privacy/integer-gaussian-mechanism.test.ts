import { describe, expect, it } from "vitest";
import { GAUSSIAN_TAIL, noiseProofParameters } from "../../protocol/aggregation/noise-bound.js";
import { parseJobSpec } from "../../protocol/job/job-spec.js";
import { integerGaussianMechanism } from "./integer-gaussian-mechanism.js";
import { createNoiseSource } from "./noise-source.js";
import type { Rng } from "./types.js";

/** The proven-noise bound against the noise the mechanism really draws (noise-bound.ts). */
describe("the proven DP noise bound", () => {
  const spec = (privacy: Record<string, unknown>, model = "logreg") =>
    parseJobSpec({
      model,
      schema: { featureShape: [8], min: 0, max: 1, classes: 8 },
      clipNorm: 1,
      privacy,
    });

  /** Draws the mechanism's noise on a zero update of `length` values with the spec's σ. */
  const draw = (length: number, noiseBound?: bigint, rng: Rng = createNoiseSource()) =>
    integerGaussianMechanism({
      updates: [{ id: "zero", q: new Int32Array(length) }],
      length,
      clipNorm: 1,
      noiseMultiplier: 1,
      rng,
      scale: 1 / 32_767,
      ...(noiseBound === undefined ? {} : { noiseBound }),
    });

  it("sizes the noise circuit for the largest value Box–Muller can give", () => {
    // z = 1, C = 1, 16 bits: σ = 32,767 steps, |N| ≤ ⌈8.5717·σ + ½⌉ = 280,873 < 2^19.
    const bound = noiseProofParameters(spec({ noiseMultiplier: 1 }), 72);
    expect(bound.sigma).toBeCloseTo(32_767, 3);
    expect(GAUSSIAN_TAIL).toBeCloseTo(8.5717, 4);
    expect(bound.bits).toBe(20);
    // c2 = ⌈(σ·√(P + 2√(40P) + 80) + ½√P)²⌉ and X = scale·√c2.
    const chi = 72 + 2 * Math.sqrt(40 * 72) + 80;
    const expected = (32_767 * Math.sqrt(chi) + 0.5 * Math.sqrt(72)) ** 2;
    expect(Number(bound.c2) / expected).toBeCloseTo(1, 6);
    expect(bound.norm).toBeCloseTo(Math.sqrt(Number(bound.c2)) / 32_767, 9);
    // Twice the noise multiplier: one bit more.
    expect(noiseProofParameters(spec({ noiseMultiplier: 2 }), 72).bits).toBe(21);
  });

  it("takes the adaptive cap C ≤ scale·maxQ for σ, not the initial C", () => {
    const adaptive = spec({ noiseMultiplier: 1, adaptiveClipQuantile: 0.5 });
    const bound = noiseProofParameters(adaptive, 72);
    expect(bound.sigma).toBeCloseTo(32_767, 3);
  });

  it("refuses noise wider than the 32-bit noise circuit, naming z", () => {
    expect(() => noiseProofParameters(spec({ noiseMultiplier: 20_000 }), 72)).toThrow(
      /z = 20000\) does not fit the 32-bit noise circuit/,
    );
  });

  it("holds every draw of the real noise source, and is not vacuous", () => {
    const { c2, bits } = noiseProofParameters(spec({ noiseMultiplier: 1 }), 72);
    const max = 2 ** (bits - 1) - 1;
    let ratio = 0;
    for (let i = 0; i < 200; i++) {
      const { noise, noiseSquaredNorm } = draw(72);
      expect(noiseSquaredNorm).toBeLessThanOrEqual(c2);
      for (const value of noise) expect(Math.abs(value)).toBeLessThanOrEqual(max);
      ratio += Number(noiseSquaredNorm) / Number(c2) / 200;
    }
    // E‖N‖² = 72σ², c2 ≈ 259σ²: about 0.28 at 72 values.
    expect(ratio).toBeGreaterThan(0.2);
    expect(ratio).toBeLessThan(0.36);
  });

  it("is within 7 % of ‖N‖² on a large model, where χ² concentrates", () => {
    const length = 100_000;
    const { c2 } = noiseProofParameters(spec({ noiseMultiplier: 1 }, "mlp"), length);
    const { noiseSquaredNorm } = draw(length);
    expect(noiseSquaredNorm).toBeLessThanOrEqual(c2);
    // ‖N‖²/c2 ≈ χ/(P + 2√(40P) + 80): mean P/104,080 = 0.961, standard deviation
    // √(2P)/104,080 = 0.0043; 0.93 lies seven deviations below.
    expect(Number(noiseSquaredNorm) / Number(c2)).toBeGreaterThan(0.93);
  });

  it("draws again when a draw exceeds the bound, and gives up on a bound no draw meets", () => {
    // A generator whose first 4 normals are 1 (Σ N² = 4σ²), then 0.
    let drawn = 0;
    const rng: Rng = { next: () => 0.5, normal: () => (drawn++ < 4 ? 1 : 0) };
    const redrawn = draw(4, 1n, rng);
    expect(Array.from(redrawn.noise)).toEqual([0, 0, 0, 0]);
    expect(redrawn.noiseSquaredNorm).toBe(0n);
    expect(() => draw(4, 0n)).toThrow(/8 noise draws in a row exceeded the proven bound Σ N² ≤ 0/);
  });
});
