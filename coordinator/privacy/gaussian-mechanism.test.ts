import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../common/errors.js";
import { createRng } from "../../protocol/random.js";
import { updatesFrom } from "../aggregation/test-updates.js";
import { gaussianMechanism } from "./gaussian-mechanism.js";

function meanAndStd(values: Float32Array): { mean: number; std: number } {
  let sum = 0;
  for (const v of values) sum += v;
  const mean = sum / values.length;
  let squares = 0;
  for (const v of values) squares += (v - mean) ** 2;
  return { mean, std: Math.sqrt(squares / (values.length - 1)) };
}

describe("gaussianMechanism", () => {
  const dimension = 20_000;
  const zeros = updatesFrom(Array.from({ length: 4 }, () => new Array(dimension).fill(0)));

  it("adds noise of standard deviation z·C/n per coordinate of the mean", () => {
    // z = 1.5, C = 2, n = 4 → σ = 0.75. With 20,000 coordinates the sample standard
    // deviation has a relative standard error of 1/√(2·20000) = 0.5%, so ±3% is a 6σ bound;
    // the sample mean has standard error 0.75/√20000 ≈ 0.0053, bounded here by 0.03.
    const { mean, report } = gaussianMechanism({
      updates: zeros,
      clipNorm: 2,
      noiseMultiplier: 1.5,
      rng: createRng(20260101),
    });
    expect(report.noiseStddev).toBe(0.75);
    const stats = meanAndStd(mean);
    expect(Math.abs(stats.std / 0.75 - 1)).toBeLessThan(0.03);
    expect(Math.abs(stats.mean)).toBeLessThan(0.03);
  });

  it("divides by a fixed denominator when one is given", () => {
    // z = 1, C = 3, denominator 10 (expected clients per round) → σ = 0.3 though n = 4.
    const { mean, report } = gaussianMechanism({
      updates: zeros,
      clipNorm: 3,
      noiseMultiplier: 1,
      denominator: 10,
      rng: createRng(7),
    });
    expect(report).toMatchObject({ noiseStddev: 0.3, denominator: 10, contributions: 4 });
    expect(Math.abs(meanAndStd(mean).std / 0.3 - 1)).toBeLessThan(0.03);
  });

  it("clips every contribution to C and ignores the sample counts", () => {
    // [6, 8] has norm 10 → [0.6, 0.8] at C = 1; [0, 0.5] fits; sum [0.6, 1.3], mean [0.3, 0.65].
    const { mean, report } = gaussianMechanism({
      updates: updatesFrom(
        [
          [6, 8],
          [0, 0.5],
        ],
        [1000, 1],
      ),
      clipNorm: 1,
      noiseMultiplier: 0,
      rng: createRng(1),
    });
    expect(mean[0]).toBeCloseTo(0.3, 6);
    expect(mean[1]).toBeCloseTo(0.65, 6);
    expect(report.reclipped).toBe(1);
  });

  it("does not count float32 rounding at the bound as re-clipping", () => {
    const atBound = Float32Array.from([0.6, 0.8]); // norm 1 up to float32 rounding
    const { report } = gaussianMechanism({
      updates: [{ deviceId: "a", delta: atBound, weight: 1 }],
      clipNorm: 1,
      noiseMultiplier: 0,
      rng: createRng(1),
    });
    expect(report.reclipped).toBe(0);
  });

  it("is reproducible from the seed", () => {
    const run = (seed: number) =>
      Array.from(
        gaussianMechanism({ updates: zeros, clipNorm: 1, noiseMultiplier: 1, rng: createRng(seed) })
          .mean,
      ).slice(0, 5);
    expect(run(3)).toEqual(run(3));
    expect(run(3)).not.toEqual(run(4));
  });

  it.each([
    [{ clipNorm: 0, noiseMultiplier: 1 }, /clipNorm/],
    [{ clipNorm: 1, noiseMultiplier: -1 }, /noiseMultiplier/],
    [{ clipNorm: 1, noiseMultiplier: Number.NaN }, /noiseMultiplier/],
    [{ clipNorm: 1, noiseMultiplier: 1, denominator: 0 }, /denominator/],
  ])("rejects %j", (settings, message) => {
    expect(() => gaussianMechanism({ ...settings, updates: zeros, rng: createRng(1) })).toThrow(
      InvalidArgumentError,
    );
    expect(() => gaussianMechanism({ ...settings, updates: zeros, rng: createRng(1) })).toThrow(
      message,
    );
  });

  it("rejects non-finite deltas", () => {
    expect(() =>
      gaussianMechanism({
        updates: updatesFrom([
          [1, 1],
          [Number.POSITIVE_INFINITY, 0],
        ]),
        clipNorm: 1,
        noiseMultiplier: 1,
        rng: createRng(1),
      }),
    ).toThrow(/b holds a non-finite value/);
  });
});
