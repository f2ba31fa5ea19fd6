import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../common/errors.js";
import {
  computeRdp,
  DEFAULT_RDP_ORDERS,
  epsilonAfter,
  maxRoundsWithinBudget,
  rdpToEpsilon,
  wouldExceedBudget,
} from "./rdp-accountant.js";

/**
 * Reference values come from the test suites of the two accountants every DP-SGD paper
 * uses; the file and test each number comes from is named next to it. Tolerances are far
 * inside the 1% the project asks for.
 */

/** Opacus `RDPAccountant.DEFAULT_ALPHAS` (opacus/accountants/rdp.py). */
const OPACUS_ORDERS = [
  ...Array.from({ length: 99 }, (_, x) => 1 + (x + 1) / 10),
  ...Array.from({ length: 52 }, (_, x) => 12 + x),
];

/** log A_α by composite Simpson over [−40z − 1, α + 40z + 1], shifted by the maximum. */
function logAByQuadrature(q: number, z: number, order: number): number {
  const logAddExp = (a: number, b: number) =>
    Math.max(a, b) + Math.log1p(Math.exp(-Math.abs(a - b)));
  const logIntegrand = (x: number) =>
    (-x * x) / (2 * z * z) -
    Math.log(z * Math.sqrt(2 * Math.PI)) +
    order * logAddExp(Math.log1p(-q), Math.log(q) + (2 * x - 1) / (2 * z * z));
  const low = -40 * z - 1;
  const intervals = 400_000;
  const h = (order + 40 * z + 1 - low) / intervals;
  const logs = Float64Array.from({ length: intervals + 1 }, (_, k) => logIntegrand(low + k * h));
  const peak = logs.reduce((a, b) => Math.max(a, b));
  let sum = 0;
  logs.forEach((value, k) => {
    const weight = k === 0 || k === intervals ? 1 : k % 2 === 1 ? 4 : 2;
    sum += weight * Math.exp(value - peak);
  });
  return peak + Math.log((sum * h) / 3);
}

const relativeError = (actual: number, expected: number): number =>
  Math.abs(actual - expected) / Math.abs(expected);

describe("computeRdp against published values", () => {
  it("q = 0.01, z = 2.5, 50 steps (TF Privacy test_compute_rdp_sequence)", () => {
    // tensorflow/privacy, tensorflow_privacy/privacy/analysis/rdp_accountant_test.py,
    // TestGaussianMoments.test_compute_rdp_sequence: orders [1.5, 2.5, 5, 50, 100, ∞] →
    // [0.00065, 0.001085, 0.00218075, 0.023846, 167.416307, ∞] (their delta = 1e-5).
    // The same case with 5 significant digits, [6.5007e-04, 1.0854e-03, 2.1808e-03,
    // 2.3846e-02, 1.6742e+02, inf] at rtol 1e-4, is in google/differential-privacy
    // dp_accounting 0.4.3, rdp/rdp_privacy_accountant_test.py,
    // test_compute_rdp_poisson_sampled_gaussian. (dp_accounting 0.4.4 changed the
    // fractional-order sum to Σ|terms|, a looser upper bound, and the 1.5 value to 6.7058e-4.)
    const rdp = computeRdp({
      q: 0.01,
      noiseMultiplier: 2.5,
      steps: 50,
      orders: [1.5, 2.5, 5, 50, 100, Number.POSITIVE_INFINITY],
    });
    const expected = [6.5007e-4, 1.0854e-3, 2.1808e-3, 2.3846e-2, 1.6742e2];
    expected.forEach((value, k) => {
      expect(relativeError(rdp[k], value)).toBeLessThan(1e-4);
    });
    expect(Math.abs(rdp[4] - 167.416307)).toBeLessThan(1e-5);
    expect(rdp[5]).toBe(Number.POSITIVE_INFINITY);
  });

  it("q = 0.1, z = 2, 10 steps, order 5 (TF Privacy test_compute_rdp_scalar)", () => {
    // Same TF Privacy file, test_compute_rdp_scalar: assertAlmostEqual(rdp, 0.07737, places=5).
    const [rdp] = computeRdp({ q: 0.1, noiseMultiplier: 2, steps: 10, orders: [5] });
    expect(Math.abs(rdp - 0.07737)).toBeLessThan(5e-6);
  });

  it("without sampling it is the Gaussian mechanism's α/(2z²) (TF Privacy test_compute_rdp_no_sampling)", () => {
    expect(computeRdp({ q: 1, noiseMultiplier: 10, steps: 1, orders: [20] })).toEqual([0.1]);
    expect(computeRdp({ q: 0, noiseMultiplier: 10, steps: 1, orders: [20] })).toEqual([0]);
  });

  it("agrees with direct numerical integration of A_α (the cases of TF Privacy's test_compute_log_a_equals_mp)", () => {
    // TF Privacy checks log A_α against an mpmath quadrature for these (q, z, α). Here the
    // integral A_α = ∫ N(x; 0, z²)·((1 − q) + q·e^((2x − 1)/(2z²)))^α dx is done by
    // Simpson's rule in log space; its absolute accuracy (~10⁻¹³) is why the tiniest values
    // are compared with an absolute tolerance.
    const cases: [number, number, number][] = [
      [1e-7, 0.1, 1.01],
      [1e-6, 0.1, 256],
      [1e-5, 0.1, 256.1],
      [1e-4, 1, 1.5],
      [1e-3, 1, 2],
      [0.01, 10, 20],
      [0.1, 100, 20.5],
      [0.99, 0.1, 256],
      [0.999, 100, 256.1],
      [0.2, 0.8, 1.3],
    ];
    for (const [q, z, order] of cases) {
      const [rdp] = computeRdp({ q, noiseMultiplier: z, steps: 1, orders: [order] });
      const logA = logAByQuadrature(q, z, order);
      expect(Math.abs(rdp * (order - 1) - logA)).toBeLessThan(1e-9 * Math.abs(logA) + 1e-12);
    }
  });

  it("is linear in the number of steps", () => {
    const one = computeRdp({ q: 0.02, noiseMultiplier: 1.3, steps: 1 });
    const many = computeRdp({ q: 0.02, noiseMultiplier: 1.3, steps: 777 });
    many.forEach((value, k) => {
      expect(relativeError(value, 777 * one[k])).toBeLessThan(1e-12);
    });
  });
});

describe("rdpToEpsilon against published values", () => {
  it("constant RDP 1.1 over orders 2..32 at δ = 1e-5 gives ε = 1.32783806176 at order 32", () => {
    // TF Privacy rdp_accountant_test.py, test_get_privacy_spent_check_target_delta, and
    // dp_accounting rdp_privacy_accountant_test.py, test_compute_epsilon_delta_pure_dp.
    // By hand with Balle et al. 2020 Thm 21: 1.1 + log(31/32) − (log 1e-5 + log 32)/31.
    // (The classic conversion 1.1 − log(1e-5)/31 would give 1.4714.)
    const orders = Array.from({ length: 31 }, (_, k) => k + 2);
    const { epsilon, order } = rdpToEpsilon({ orders, rdp: orders.map(() => 1.1), delta: 1e-5 });
    expect(epsilon).toBeCloseTo(1.32783806176, 9);
    expect(order).toBe(32);
  });

  it("the Gaussian mechanism with z = 4.530877117 is (1, 1e-6)-DP", () => {
    // Same two test files (second half of test_get_privacy_spent_check_target_delta /
    // test_compute_epsilon_delta_gaussian): orders 1.000, 1.001, …, 99.999; q = 1.
    const orders = Array.from({ length: 99000 }, (_, i) => 0.001 * (i + 1000));
    const rdp = computeRdp({ q: 1, noiseMultiplier: 4.530877117, steps: 1, orders });
    expect(rdpToEpsilon({ orders, rdp, delta: 1e-6 }).epsilon).toBeCloseTo(1, 6);
  });

  it("q = 0.04, z = 1.5, 2250 steps, δ = 1e-5 gives ε = 7.32911117143 (Opacus test_rdp_accountant)", () => {
    // pytorch/opacus, opacus/tests/accountants_test.py, AccountingTest.test_rdp_accountant:
    // 90 epochs at sample rate 0.04, assertAlmostEqual(epsilon, 7.32911117143) with the
    // default alphas. Opacus converts with the same Balle et al. theorem.
    const rdp = computeRdp({ q: 0.04, noiseMultiplier: 1.5, steps: 2250, orders: OPACUS_ORDERS });
    const { epsilon, order } = rdpToEpsilon({ orders: OPACUS_ORDERS, rdp, delta: 1e-5 });
    expect(epsilon).toBeCloseTo(7.32911117143, 7);
    expect(order).toBeCloseTo(3.9, 12);
  });

  it("composition of two mechanisms stays under TF Privacy's old bound 8.509656", () => {
    // TF Privacy rdp_accountant_test.py, test_check_composition: q = 1e-4, z = 0.4, 40000
    // steps, then q = 0.1, z = 2, 100 steps, δ = 1e-5. The published 8.509656 (order 2.5)
    // is from the classic conversion; the improved one must not exceed it.
    const orders = [
      1.25, 1.5, 1.75, 2, 2.5, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 32, 64, 256,
    ];
    const first = computeRdp({ q: 1e-4, noiseMultiplier: 0.4, steps: 40000, orders });
    const second = computeRdp({ q: 0.1, noiseMultiplier: 2, steps: 100, orders });
    const rdp = first.map((value, k) => value + second[k]);
    const { epsilon, order } = rdpToEpsilon({ orders, rdp, delta: 1e-5 });
    expect(epsilon).toBeLessThanOrEqual(8.509656);
    expect(order).toBe(2.5);
    // The classic conversion at order 2.5, rdp − log(δ)/(α − 1), reproduces the old value.
    expect(rdp[4] - Math.log(1e-5) / 1.5).toBeCloseTo(8.509656, 5);
  });

  it("gives ε = 0 when nobody is ever sampled, and ∞ without noise", () => {
    expect(epsilonAfter({ q: 0, noiseMultiplier: 1, rounds: 100, delta: 1e-5 }).epsilon).toBe(0);
    expect(epsilonAfter({ q: 0.1, noiseMultiplier: 0, rounds: 1, delta: 1e-5 }).epsilon).toBe(
      Number.POSITIVE_INFINITY,
    );
  });

  it("rejects malformed input", () => {
    expect(() => rdpToEpsilon({ orders: [2, 3], rdp: [1], delta: 1e-5 })).toThrow(
      InvalidArgumentError,
    );
    expect(() => rdpToEpsilon({ orders: [2], rdp: [1], delta: 0 })).toThrow(/delta/);
    expect(() => rdpToEpsilon({ orders: [2], rdp: [-1], delta: 1e-5 })).toThrow(/RDP value/);
    expect(() => computeRdp({ q: 1.5, noiseMultiplier: 1, steps: 1 })).toThrow(/q must/);
    expect(() => computeRdp({ q: 0.1, noiseMultiplier: 1, steps: 1.5 })).toThrow(/steps/);
    expect(() => computeRdp({ q: 0.1, noiseMultiplier: 1, steps: 1, orders: [0.5] })).toThrow(
      /order/,
    );
  });
});

describe("budget helpers", () => {
  const setting = { q: 0.01, noiseMultiplier: 1.1, delta: 1e-5 };

  it("epsilonAfter uses the standard orders and grows with the rounds", () => {
    const few = epsilonAfter({ ...setting, rounds: 100 });
    const many = epsilonAfter({ ...setting, rounds: 10_000 });
    expect(DEFAULT_RDP_ORDERS).toContain(few.order);
    expect(few.epsilon).toBeGreaterThan(0);
    expect(many.epsilon).toBeGreaterThan(few.epsilon);
  });

  it("wouldExceedBudget and maxRoundsWithinBudget agree", () => {
    const budget = 3;
    const rounds = maxRoundsWithinBudget({ ...setting, budget, limit: 1_000_000 });
    expect(rounds).toBeGreaterThan(0);
    expect(wouldExceedBudget({ ...setting, rounds, budget })).toBe(false);
    expect(wouldExceedBudget({ ...setting, rounds: rounds + 1, budget })).toBe(true);
    expect(epsilonAfter({ ...setting, rounds }).epsilon).toBeLessThanOrEqual(budget);
  });

  it("maxRoundsWithinBudget stops at the limit", () => {
    expect(maxRoundsWithinBudget({ ...setting, budget: 1e9, limit: 50 })).toBe(50);
    expect(maxRoundsWithinBudget({ ...setting, noiseMultiplier: 0, budget: 1, limit: 50 })).toBe(0);
  });
});
