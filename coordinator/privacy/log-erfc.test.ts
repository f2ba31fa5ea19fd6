import { describe, expect, it } from "vitest";
import { logErfc } from "./log-erfc.js";

/**
 * Reference values of erfc(x) printed by CPython 3's math.erfc (correctly rounded to within
 * a few ulps); beyond x ≈ 26.5 erfc underflows, so there the reference is the asymptotic
 * series log erfc(x) = −x² − log(x√π) + log(1 − 1/(2x²) + 3/(4x⁴) − 15/(8x⁶) + …), whose
 * truncation error at x ≥ 30 is below 10⁻¹².
 */
const REFERENCE: [number, number][] = [
  [-5, 1.9999999999984626],
  [-1, 1.842700792949715],
  [-0.3, 1.3286267594591274],
  [0, 1],
  [0.3, 0.67137324054087255],
  [0.5, 0.47950012218695348],
  [1, 0.15729920705028513],
  [1.5, 0.033894853524689274],
  [1.99, 0.0048885868003830033],
  [2, 0.0046777349810472654],
  [3, 2.2090496998585438e-5],
  [5, 1.5374597944280351e-12],
  [10, 2.0884875837625449e-45],
  [20, 5.3958656116079005e-176],
  [26, 5.6631924088561432e-296],
];

describe("logErfc", () => {
  it.each(REFERENCE)("erfc(%d) matches CPython to 1e-12 relative", (x, erfc) => {
    expect(Math.abs(logErfc(x) - Math.log(erfc))).toBeLessThan(1e-12);
  });

  it.each([30, 100, 1000])("follows the asymptotic series far into the tail (x = %d)", (x) => {
    const asymptotic =
      -x * x -
      Math.log(x * Math.sqrt(Math.PI)) +
      Math.log1p(-1 / (2 * x * x) + 3 / (4 * x ** 4) - 15 / (8 * x ** 6));
    expect(logErfc(x)).toBeCloseTo(asymptotic, 10);
  });

  it("is continuous where the method switches at x = 2", () => {
    expect(logErfc(2 - 1e-12)).toBeCloseTo(logErfc(2), 10);
  });
});
