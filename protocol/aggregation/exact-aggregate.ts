import { InvalidArgumentError } from "../../common/errors.js";

/**
 * A round's aggregate as an exact integer vector in quantisation units: S = Σᵢ wᵢ·qᵢ over the
 * uploaded updates qᵢ (Int32) with integer weights wᵢ, or, with central DP, S' = S + N with N an
 * integer noise vector. The next model is derived from it by `nextModel` (model-rule.ts).
 *
 * S is held in a Float64Array whose every value is an integer of magnitude ≤ 2^53 − 1, checked
 * at every step: below that bound a double holds an integer exactly, and a product or sum whose
 * exact value exceeds it rounds to a double ≥ 2^53 (rounding is monotone), so checking each
 * computed value catches every inexact step. Doubles rather than BigInt64Array because the rule
 * divides S_j by W in binary64 anyway, so S_j as a double is what the rule consumes (no int64 →
 * double conversion to specify), and double arithmetic is an order of magnitude faster than
 * BigInt on 10⁵–10⁶ coordinates × tens of updates. The artifact (aggregate-codec.ts) stores
 * int64, so the bound can be raised later without a format change.
 */
export interface ExactAggregate {
  /** S_j (or S'_j), integers with |S_j| ≤ 2^53 − 1. */
  sum: Float64Array;
  /**
   * The divisor W: Σᵢ wᵢ, or with central DP the job's fixed denominator (the expected number
   * of contributions per round). A positive integer ≤ 2^53 − 1.
   */
  weight: number;
  /** True when `sum` carries central-DP noise (S' = S + N). */
  noised: boolean;
}

/** One verified contribution as the aggregate sums it: its quantised values and integer weight. */
export interface WeightedUpdate {
  /** Names the contribution in errors (a device id). */
  id: string;
  q: Int32Array;
  weight: number;
}

const MAX_EXACT = Number.MAX_SAFE_INTEGER;

/**
 * S = Σᵢ wᵢ·qᵢ and W = Σᵢ wᵢ, exactly. Throws InvalidArgumentError on an empty list, an update
 * of another length, a weight that is not a positive integer, or a sum that leaves the exact
 * range (|S_j| or W above 2^53 − 1), naming the contribution or coordinate.
 */
export function sumWeightedUpdates(
  updates: readonly WeightedUpdate[],
  length: number,
): ExactAggregate {
  if (updates.length === 0) {
    throw new InvalidArgumentError("cannot aggregate an empty list of updates");
  }
  const sum = new Float64Array(length);
  let weight = 0;
  for (const update of updates) {
    if (update.q.length !== length) {
      throw new InvalidArgumentError(`update from ${update.id} has the wrong length`, {
        details: `expected ${length} values, got ${update.q.length}`,
      });
    }
    const w = update.weight;
    if (!Number.isSafeInteger(w) || w <= 0) {
      throw new InvalidArgumentError(
        `update from ${update.id} has a weight that is not an integer`,
        {
          details: `the exact aggregate needs positive integer weights, got ${w}`,
        },
      );
    }
    weight += w;
    if (weight > MAX_EXACT) {
      throw new InvalidArgumentError("the update weights sum to more than 2^53 − 1", {
        details: `at the update from ${update.id}`,
      });
    }
    const q = update.q;
    for (let j = 0; j < length; j++) {
      const next = sum[j]! + w * q[j]!;
      if (!(Math.abs(next) <= MAX_EXACT)) {
        throw new InvalidArgumentError(
          `the aggregate leaves the exact integer range at coordinate ${j}`,
          {
            details: `|Σ wᵢ·qᵢ| would exceed 2^53 − 1 at the update from ${update.id}`,
          },
        );
      }
      sum[j] = next;
    }
  }
  return { sum, weight, noised: false };
}

/**
 * S' = S + N with the integer noise vector N, divided by the fixed `denominator` instead of W
 * (central DP, see coordinator/privacy/integer-gaussian-mechanism.ts).
 */
export function addIntegerNoise(
  aggregate: ExactAggregate,
  noise: Float64Array,
  denominator: number,
): ExactAggregate {
  if (aggregate.noised) throw new InvalidArgumentError("the aggregate already carries noise");
  if (noise.length !== aggregate.sum.length) {
    throw new InvalidArgumentError("the noise vector does not fit the aggregate", {
      details: `${noise.length} noise values for ${aggregate.sum.length} coordinates`,
    });
  }
  if (!Number.isSafeInteger(denominator) || denominator <= 0) {
    throw new InvalidArgumentError(
      `the DP denominator must be a positive integer, got ${denominator}`,
    );
  }
  const sum = new Float64Array(noise.length);
  for (let j = 0; j < noise.length; j++) {
    const n = noise[j]!;
    const next = aggregate.sum[j]! + n;
    if (!Number.isInteger(n) || !(Math.abs(next) <= MAX_EXACT)) {
      throw new InvalidArgumentError(
        `noise value ${n} at coordinate ${j} is not an integer in range`,
      );
    }
    sum[j] = next;
  }
  return { sum, weight: denominator, noised: true };
}
