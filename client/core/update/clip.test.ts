import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../../common/errors.js";
import { createRng } from "../../../protocol/random.js";
import { clipL2, l2Norm } from "./clip.js";

function randomVector(seed: number, length: number, magnitude: number): Float32Array {
  const rng = createRng(seed);
  return Float32Array.from({ length }, () => rng.normal() * magnitude);
}

describe("clipL2", () => {
  it("brings the float32 norm to at most C for vectors of every magnitude", () => {
    let seed = 0;
    for (const magnitude of [1e-30, 1e-6, 1, 1e3, 1e15, 1e30]) {
      for (const length of [1, 7, 1000, 20_000]) {
        for (const clipNorm of [1e-3, 0.1, 1, 3.7]) {
          const delta = randomVector(seed++, length, magnitude);
          const { clipped, norm, factor } = clipL2(delta, clipNorm);
          expect(l2Norm(clipped)).toBeLessThanOrEqual(clipNorm);
          expect(norm).toBe(l2Norm(delta));
          if (norm > clipNorm) {
            // Clipping should not shrink much more than needed.
            expect(l2Norm(clipped)).toBeGreaterThan(clipNorm * (1 - 1e-5));
            expect(factor).toBeLessThan(1);
          }
        }
      }
    }
  });

  it("leaves a vector already within the bound unchanged (as a copy)", () => {
    const delta = randomVector(99, 500, 0.001);
    const { clipped, factor } = clipL2(delta, 10);
    expect(factor).toBe(1);
    expect(clipped).toEqual(delta);
    expect(clipped).not.toBe(delta);
  });

  it("keeps the direction of the update", () => {
    const delta = Float32Array.from([3, -4]);
    const { clipped } = clipL2(delta, 1);
    expect(clipped[0]).toBeCloseTo(0.6, 6);
    expect(clipped[1]).toBeCloseTo(-0.8, 6);
  });

  it("rejects non-finite updates and bad bounds", () => {
    expect(() => clipL2(Float32Array.from([1, Number.NaN]), 1)).toThrow(/index 1/);
    expect(() => clipL2(Float32Array.from([1]), 0)).toThrow(InvalidArgumentError);
  });

  it("sums squares in float64", () => {
    // 3e20² overflows float32 but not float64.
    expect(l2Norm(Float32Array.from([3e20, 4e20])) / 5e20).toBeCloseTo(1, 6);
  });
});
