import { InvalidArgumentError } from "../../common/errors.js";
import { assertNumber } from "./assert-number.js";
import { logErfc } from "./log-erfc.js";
import { SignedLogSum } from "./signed-log-sum.js";

/**
 * Rényi-DP accountant for the sampled Gaussian mechanism (SGM): each round, every device
 * takes part independently with probability q, the clipped contributions are summed and
 * Gaussian noise of standard deviation z·C is added (`gaussian-mechanism.ts`).
 *
 * RDP of one round at order α is log(A_α)/(α − 1), where (Mironov, Talwar, Zhang 2019,
 * "Rényi Differential Privacy of the Sampled Gaussian Mechanism", Section 3.3)
 *
 *     A_α = E_{x∼μ₀}[(μ(x)/μ₀(x))^α],   μ₀ = N(0, z²),  μ = (1 − q)·μ₀ + q·N(1, z²).
 *
 * Integer α: expand the binomial, E_{μ₀}[(μ₁/μ₀)^i] = exp((i² − i)/(2z²)), so
 *     A_α = Σ_{i=0..α} C(α, i)·(1 − q)^(α−i)·q^i·exp((i² − i)/(2z²)).
 *
 * Fractional α: the generalised binomial series only converges where q·μ₁ < (1 − q)·μ₀,
 * i.e. left of z₀ = z²·log(1/q − 1) + ½. Split the integral there; on the right expand in
 * powers of (1 − q)μ₀/(qμ₁) instead. Each piece is a Gaussian integral over a half-line:
 *     A_α = Σ_{i≥0} C(α, i)·[ q^i (1 − q)^(α−i) e^((i² − i)/(2z²)) · ½erfc((i − z₀)/(√2 z))
 *                          + q^(α−i) (1 − q)^i e^((j² − j)/(2z²)) · ½erfc((z₀ − j)/(√2 z)) ],  j = α − i,
 * summed until the terms are negligible against the total. Both sums run in log space
 * with signs (`SignedLogSum`), because the coefficients alternate in sign once i > α and
 * individual terms span hundreds of orders of magnitude. This is the computation TF
 * Privacy (`rdp_accountant.py`) and Opacus (`analysis/rdp.py`) perform; it is written here
 * from the paper. Where cancellation between the signed terms would leave too few correct
 * digits, the sum of the terms' magnitudes is used instead: never smaller than A_α, so the
 * bound stays valid (Google's dp_accounting ≥ 0.4.4 uses that sum everywhere, which makes
 * its values up to a few % larger than TF Privacy's and Opacus's at fractional orders).
 *
 * RDP composes additively over rounds, and is converted to (ε, δ)-DP with the improved
 * conversion of Balle et al. 2020, "Hypothesis Testing Interpretations and Rényi
 * Differential Privacy", Theorem 21 (= Canonne, Kamath, Steinke 2020, Proposition 12),
 * the one Opacus's `get_privacy_spent` and Google's `dp_accounting.rdp` use:
 *     ε = min_α  RDP(α) + log((α − 1)/α) − (log δ + log α)/(α − 1).
 *
 * Caveat on sampling: the analysis assumes Poisson sampling (each device independently with
 * probability q). A round engine that samples a fixed number of devices uniformly is
 * accounted for with q = clientsPerRound / population, the customary approximation
 * (McMahan et al. 2018 do the same), not a proven bound for that sampling scheme.
 */

/**
 * The orders of Google's dp_accounting `RdpAccountant.DEFAULT_RDP_ORDERS` (the successor of
 * TF Privacy's accountant): 1.1 … 10.9 in steps of 0.1, 11 … 63, then 128, 256, 512, 1024.
 * Opacus's default is the same list without 11 and the four large orders.
 */
export const DEFAULT_RDP_ORDERS: readonly number[] = Object.freeze([
  ...Array.from({ length: 99 }, (_, x) => 1 + (x + 1) / 10),
  ...Array.from({ length: 53 }, (_, x) => 11 + x),
  128,
  256,
  512,
  1024,
]);

/** Terms below total·e^(−30) (≈ 10⁻¹³ relative) are dropped, as TF Privacy does. */
const NEGLIGIBLE_LOG_GAP = 30;
/** If the largest term exceeds the signed sum by e^25, fewer than ~5 of 16 digits survive. */
const CANCELLATION_LOG_GAP = 25;
/** Fractional-order series still not converged after this many terms count as RDP = ∞. */
const MAX_SERIES_TERMS = 20_000;

export interface ComputeRdpParameters {
  /** Sampling probability per round, in [0, 1]. */
  q: number;
  /** z = noise standard deviation / L2 sensitivity. */
  noiseMultiplier: number;
  /** How many times the mechanism ran (rounds). */
  steps: number;
  orders?: readonly number[];
}

/** RDP of `steps` compositions of the SGM, one value per order; entries may be +∞. */
export function computeRdp({
  q,
  noiseMultiplier,
  steps,
  orders = DEFAULT_RDP_ORDERS,
}: ComputeRdpParameters): number[] {
  assertNumber("q", q, { min: 0, max: 1 });
  assertNumber("noiseMultiplier", noiseMultiplier, { min: 0 });
  assertNumber("steps", steps, { min: 0, integer: true });
  assertOrders(orders);
  return orders.map((order) => (steps === 0 ? 0 : steps * rdpOfOneStep(q, noiseMultiplier, order)));
}

function rdpOfOneStep(q: number, sigma: number, order: number): number {
  if (q === 0) return 0;
  if (sigma === 0 || order === Number.POSITIVE_INFINITY) return Number.POSITIVE_INFINITY;
  // Without sampling the SGM is the plain Gaussian mechanism: RDP(α) = α/(2z²).
  if (q === 1) return order / (2 * sigma * sigma);
  // A_α/(α − 1) is 0/0 at α = 1 (the KL divergence). ∞ is a true bound there, and the
  // conversion to ε skips orders this close to 1 anyway.
  if (order === 1) return Number.POSITIVE_INFINITY;
  const logA = Number.isInteger(order)
    ? logAIntegerOrder(q, sigma, order)
    : logAFractionalOrder(q, sigma, order);
  return logA / (order - 1);
}

function logAIntegerOrder(q: number, sigma: number, order: number): number {
  const sum = new SignedLogSum();
  const logQ = Math.log(q);
  const log1mQ = Math.log1p(-q);
  let logBinomial = 0;
  for (let i = 0; i <= order; i++) {
    if (i > 0) logBinomial += Math.log((order - i + 1) / i);
    sum.add(1, logBinomial + i * logQ + (order - i) * log1mQ + (i * i - i) / (2 * sigma * sigma));
  }
  return sum.log;
}

function logAFractionalOrder(q: number, sigma: number, order: number): number {
  const left = new SignedLogSum();
  const right = new SignedLogSum();
  const logQ = Math.log(q);
  const log1mQ = Math.log1p(-q);
  const z0 = sigma * sigma * Math.log(1 / q - 1) + 0.5;
  const tailScale = Math.SQRT2 * sigma;
  const logHalf = Math.log(0.5);
  /**
   * log of q^k (1 − q)^(α−k) · E_{x∼μ₀}[(μ₁/μ₀)(x)^k ; x on one side of z₀]
   *      = k log q + (α − k) log(1 − q) + (k² − k)/(2z²) + log ½erfc(±(k − z₀)/(√2 z)),
   * side −1 for x ≤ z₀ (left series, k = i), +1 for x ≥ z₀ (right series, k = α − i).
   */
  const logHalfLineMoment = (k: number, side: -1 | 1): number =>
    k * logQ +
    (order - k) * log1mQ +
    (k * k - k) / (2 * sigma * sigma) +
    logHalf +
    logErfc((side * (z0 - k)) / tailScale);
  // C(α, i) = C(α, i − 1)·(α − i + 1)/i: tracked as log|C| and sign, which flips each time
  // the factor (α − i + 1) is negative, i.e. alternately for every i > α + 1.
  let logBinomial = 0;
  let sign: -1 | 1 = 1;
  const magnitudes = new SignedLogSum();
  let largestTerm = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < MAX_SERIES_TERMS; i++) {
    if (i > 0) {
      const factor = (order - i + 1) / i;
      logBinomial += Math.log(Math.abs(factor));
      if (factor < 0) sign = sign === 1 ? -1 : 1;
    }
    const logLeft = logBinomial + logHalfLineMoment(i, -1);
    const logRight = logBinomial + logHalfLineMoment(order - i, 1);
    left.add(sign, logLeft);
    right.add(sign, logRight);
    magnitudes.add(1, logAddExp(logLeft, logRight));
    largestTerm = Math.max(largestTerm, logLeft, logRight);
    // Beyond i = α + 1 both series alternate with shrinking terms, so what is left to add
    // is smaller than the current term: stop once that is negligible against the total.
    if (
      i > order + 1 &&
      Math.max(logLeft, logRight) < Math.max(left.log, right.log) - NEGLIGIBLE_LOG_GAP
    ) {
      const exact = left.sign > 0 && right.sign > 0 ? logAddExp(left.log, right.log) : Number.NaN;
      // When the terms dwarf their signed sum, cancellation has eaten the float64 digits.
      // Σ|terms| ≥ A_α is then the safe answer (dp_accounting ≥ 0.4.4 always uses it).
      return exact >= largestTerm - CANCELLATION_LOG_GAP ? exact : magnitudes.log;
    }
  }
  // With very little noise the terms decay only polynomially. An infinite RDP at this order
  // is still a true (if useless) bound, and the conversion to ε then uses the other orders.
  return Number.POSITIVE_INFINITY;
}

function logAddExp(a: number, b: number): number {
  const larger = Math.max(a, b);
  if (larger === Number.NEGATIVE_INFINITY) return larger;
  return larger + Math.log1p(Math.exp(-Math.abs(a - b)));
}

function assertOrders(orders: readonly number[]): void {
  if (orders.length === 0) throw new InvalidArgumentError("orders must not be empty");
  for (const order of orders) assertNumber("RDP order", order, { min: 1, infinite: true });
}

export interface RdpToEpsilonParameters {
  orders: readonly number[];
  rdp: readonly number[];
  /** Target δ in (0, 1). */
  delta: number;
}

export interface RdpToEpsilonReturnType {
  epsilon: number;
  /** The order that gave the smallest ε. */
  order: number;
}

/**
 * The smallest ε over the orders for which the RDP curve implies (ε, δ)-DP, by Balle et al.
 * 2020 Theorem 21. Two refinements as in dp_accounting: when δ² ≥ 1 − e^(−RDP) the
 * KL-divergence bound δ ≤ √(1 − e^(−KL)) already gives ε = 0; and orders ≤ 1.01 are skipped,
 * as the formula divides by α − 1 and cannot help there.
 */
export function rdpToEpsilon({
  orders,
  rdp,
  delta,
}: RdpToEpsilonParameters): RdpToEpsilonReturnType {
  assertOrders(orders);
  if (rdp.length !== orders.length) {
    throw new InvalidArgumentError("orders and rdp must have the same length", {
      details: `${orders.length} orders, ${rdp.length} RDP values`,
    });
  }
  assertNumber("delta", delta, { min: 0, max: 1, aboveMin: true, belowMax: true });
  let best: RdpToEpsilonReturnType = { epsilon: Number.POSITIVE_INFINITY, order: orders[0] };
  for (let k = 0; k < orders.length; k++) {
    const order = orders[k];
    const value = rdp[k];
    assertNumber("RDP value", value, { min: 0, infinite: true });
    let epsilon = Number.POSITIVE_INFINITY;
    if (delta * delta + Math.expm1(-value) >= 0) {
      epsilon = 0;
    } else if (order > 1.01 && Number.isFinite(order)) {
      epsilon = value + Math.log1p(-1 / order) - Math.log(delta * order) / (order - 1);
    }
    if (epsilon < best.epsilon) best = { epsilon, order };
  }
  return { epsilon: Math.max(0, best.epsilon), order: best.order };
}

export interface EpsilonAfterParameters {
  q: number;
  noiseMultiplier: number;
  /** Rounds run so far with this q and z. */
  rounds: number;
  delta: number;
  orders?: readonly number[];
}

/** ε spent after `rounds` rounds of the SGM at (q, z), for the given δ. */
export function epsilonAfter({
  q,
  noiseMultiplier,
  rounds,
  delta,
  orders = DEFAULT_RDP_ORDERS,
}: EpsilonAfterParameters): RdpToEpsilonReturnType {
  const rdp = computeRdp({ q, noiseMultiplier, steps: rounds, orders });
  return rdpToEpsilon({ orders, rdp, delta });
}

export interface WouldExceedBudgetParameters extends EpsilonAfterParameters {
  /** The job's ε budget. */
  budget: number;
}

/**
 * Whether having run `rounds` rounds would spend more than `budget`. Before starting a
 * round, ask with `rounds` = rounds completed + 1, and stop the job if the answer is true.
 */
export function wouldExceedBudget({ budget, ...rest }: WouldExceedBudgetParameters): boolean {
  assertNumber("budget", budget, { min: 0 });
  return epsilonAfter(rest).epsilon > budget;
}

export interface MaxRoundsWithinBudgetParameters
  extends Omit<WouldExceedBudgetParameters, "rounds"> {
  /** Upper end of the search. */
  limit: number;
}

/**
 * The largest number of rounds, at most `limit`, whose ε stays within `budget`: what a
 * researcher can ask for when creating a job. ε grows with the rounds, so a binary search
 * over the (linear in rounds) RDP curve of one round suffices.
 */
export function maxRoundsWithinBudget({
  q,
  noiseMultiplier,
  delta,
  budget,
  limit,
  orders = DEFAULT_RDP_ORDERS,
}: MaxRoundsWithinBudgetParameters): number {
  assertNumber("budget", budget, { min: 0 });
  assertNumber("limit", limit, { min: 0, integer: true });
  const perRound = computeRdp({ q, noiseMultiplier, steps: 1, orders });
  const withinBudget = (rounds: number): boolean =>
    rounds === 0 ||
    rdpToEpsilon({ orders, rdp: perRound.map((value) => value * rounds), delta }).epsilon <= budget;
  let low = 0;
  let high = limit;
  while (low < high) {
    const middle = Math.ceil((low + high) / 2);
    if (withinBudget(middle)) low = middle;
    else high = middle - 1;
  }
  return low;
}
