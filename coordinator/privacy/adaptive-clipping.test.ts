import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../common/errors.js";
import { createRng } from "../../protocol/random.js";
import {
  adaptClipNorm,
  belowClipIndicator,
  quantizedUpdateNorm,
  updateNoiseMultiplier,
} from "./adaptive-clipping.js";

describe("adaptClipNorm", () => {
  it("takes the geometric step C·exp(−η(b̃ − γ))", () => {
    // 8 of 10 updates fit under C = 1, no count noise: b̃ = 0.8, γ = 0.5, η = 0.2
    // → C' = exp(−0.2·0.3) = exp(−0.06) = 0.94176453…
    const belowClip = [...new Array(8).fill(true), false, false];
    const { clipNorm, noisedFraction } = adaptClipNorm({
      clipNorm: 1,
      belowClip,
      countNoiseStddev: 0,
      rng: createRng(1),
    });
    expect(noisedFraction).toBe(0.8);
    expect(clipNorm).toBeCloseTo(Math.exp(-0.06), 12);
    // Too few fit: C grows. 2 of 10 at γ = 0.5 → exp(+0.06).
    expect(
      adaptClipNorm({
        clipNorm: 1,
        belowClip: belowClip.map((b) => !b),
        countNoiseStddev: 0,
        rng: createRng(1),
      }).clipNorm,
    ).toBeCloseTo(Math.exp(0.06), 12);
  });

  it.each([
    [0.5, 50.5],
    [0.9, 90.5],
  ])("moves C toward the %d quantile of the norms, with the count noised", (quantile, target) => {
    // Every round 100 devices have update norms 1, 2, …, 100 (the γ-quantile is ≈ 100γ);
    // C starts at 1, far below. Count noise σ_b = n/20 = 5 (the paper's default), so b̃ is
    // off by ±0.05 per round and C settles within a few percent of the quantile.
    const rng = createRng(42);
    const norms = Array.from({ length: 100 }, (_, i) => i + 1);
    let clipNorm = 1;
    const history: number[] = [];
    for (let round = 0; round < 300; round++) {
      const belowClip = norms.map((norm) => norm <= clipNorm);
      ({ clipNorm } = adaptClipNorm({ clipNorm, belowClip, targetQuantile: quantile, rng }));
      history.push(clipNorm);
    }
    // Average over the last 100 rounds to look through the noise.
    const settled = history.slice(-100).reduce((a, b) => a + b) / 100;
    expect(Math.abs(settled / target - 1)).toBeLessThan(0.1);
    // It had to climb: after 10 rounds C was still far from the target.
    expect(history[9]).toBeLessThan(target / 2);
  });

  it("uses the fixed denominator for the fraction when given", () => {
    const { noisedFraction } = adaptClipNorm({
      clipNorm: 1,
      belowClip: [true, true],
      denominator: 8,
      countNoiseStddev: 0,
      rng: createRng(1),
    });
    expect(noisedFraction).toBe(0.25);
  });

  it.each([
    [{ clipNorm: 0 }, /clipNorm/],
    [{ targetQuantile: 1 }, /targetQuantile/],
    [{ learningRate: 0 }, /learningRate/],
    [{ countNoiseStddev: -1 }, /countNoiseStddev/],
    [{ belowClip: [] }, /at least one/],
  ])("rejects %j", (override, message) => {
    const call = () =>
      adaptClipNorm({ clipNorm: 1, belowClip: [true], rng: createRng(1), ...override });
    expect(call).toThrow(InvalidArgumentError);
    expect(call).toThrow(message);
  });
});

describe("updateNoiseMultiplier", () => {
  it("leaves the accounted z unchanged once the count query is included", () => {
    // z = 1, σ_b = 5: z_Δ = (1 − (1/10)²)^(−1/2) = 0.99^(−1/2) = 1.00503782…
    const zDelta = updateNoiseMultiplier({ noiseMultiplier: 1, countNoiseStddev: 5 });
    expect(zDelta).toBeCloseTo(1 / Math.sqrt(0.99), 12);
    // Andrew et al. Thm 1 composition: (z_Δ⁻² + (2σ_b)⁻²)^(−1/2) gives back z.
    expect((zDelta ** -2 + 10 ** -2) ** -0.5).toBeCloseTo(1, 12);
  });

  it("refuses when the count noise alone would exceed the budget (2σ_b ≤ z)", () => {
    expect(() => updateNoiseMultiplier({ noiseMultiplier: 2, countNoiseStddev: 1 })).toThrow(
      /too small/,
    );
  });
});

describe("belowClipIndicator", () => {
  const scale = 5 / 32767;
  const squaredNormOf = (norm: number) => BigInt(Math.round((norm / scale) ** 2));

  it("counts an update arriving at the clip bound as clipped, a smaller one as not", () => {
    const at = { scale, clipNorm: 5, paramCount: 1000 };
    expect(belowClipIndicator({ ...at, squaredNormQ: squaredNormOf(4.999) })).toBe(false);
    // 2√n·scale ≈ 0.0097 < C/100 = 0.05: the band below C is C/100 wide.
    expect(belowClipIndicator({ ...at, squaredNormQ: squaredNormOf(4.96) })).toBe(false);
    expect(belowClipIndicator({ ...at, squaredNormQ: squaredNormOf(4.9) })).toBe(true);
    expect(belowClipIndicator({ ...at, squaredNormQ: 0n })).toBe(true);
  });

  it("widens the band with the model's worst-case rounding error", () => {
    // 2√n·scale = 2·1000·scale ≈ 0.305 for a million values.
    const big = { scale, clipNorm: 5, paramCount: 1_000_000 };
    expect(belowClipIndicator({ ...big, squaredNormQ: squaredNormOf(4.75) })).toBe(false);
    expect(belowClipIndicator({ ...big, squaredNormQ: squaredNormOf(4.65) })).toBe(true);
  });

  it("is √(Σq²)·scale", () => {
    expect(quantizedUpdateNorm(25n, 0.5)).toBe(2.5);
  });
});
