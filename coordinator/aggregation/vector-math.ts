import { InvalidArgumentError } from "../../common/errors.js";
import type { ClientUpdate } from "./types.js";

/**
 * Shared arithmetic for the strategies. Sums run in float64 even though models travel as
 * float32: with thousands of contributions a float32 accumulator loses the low bits of
 * every small update, which is exactly the signal averaging is meant to keep.
 */

/** Throws unless `updates` is a non-empty list of same-length deltas with valid weights. */
export function assertUpdates(updates: readonly ClientUpdate[], expectedLength?: number): void {
  if (updates.length === 0) {
    throw new InvalidArgumentError("cannot aggregate an empty list of updates");
  }
  const length = expectedLength ?? updates[0].delta.length;
  let totalWeight = 0;
  for (const update of updates) {
    if (update.delta.length !== length) {
      throw new InvalidArgumentError(`update from ${update.deviceId} has the wrong length`, {
        details: `expected ${length} values, got ${update.delta.length}`,
      });
    }
    if (!Number.isFinite(update.weight) || update.weight <= 0) {
      throw new InvalidArgumentError(`update from ${update.deviceId} has an invalid weight`, {
        details: `weight must be a positive finite sample count, got ${update.weight}`,
      });
    }
    totalWeight += update.weight;
  }
  if (!Number.isFinite(totalWeight)) {
    throw new InvalidArgumentError("the update weights sum to more than float64 can hold");
  }
}

/**
 * Throws, naming the culprit, when an aggregate computed from `updates` is not finite.
 * A non-finite input always poisons a float64 sum, so checking the result first costs one
 * pass over d values instead of n·d, and the inputs are scanned only on failure.
 */
export function assertFiniteResult(
  result: ArrayLike<number>,
  updates: readonly ClientUpdate[],
): void {
  if (isAllFinite(result)) return;
  assertFiniteValues(updates);
  throw new InvalidArgumentError("the aggregate overflowed", {
    details: "every delta is finite, but weights × values exceed the float64 range",
  });
}

/** Names the first update holding a NaN or an infinity. */
export function assertFiniteValues(updates: readonly ClientUpdate[]): void {
  for (const update of updates) {
    const index = update.delta.findIndex((value) => !Number.isFinite(value));
    if (index !== -1) {
      throw new InvalidArgumentError(`update from ${update.deviceId} holds a non-finite value`, {
        details: `delta[${index}] = ${update.delta[index]}`,
      });
    }
  }
}

/** Σ wᵢ·vᵢ / Σ wᵢ in float64; callers validate shapes and weights first. */
export function weightedMean(
  vectors: readonly Float32Array[],
  weights: readonly number[],
): Float64Array {
  const sum = new Float64Array(vectors[0].length);
  let totalWeight = 0;
  for (let i = 0; i < vectors.length; i++) {
    addScaledInto(sum, vectors[i], weights[i]);
    totalWeight += weights[i];
  }
  return scaleInPlace(sum, 1 / totalWeight);
}

/** target += scale · source, in place. */
export function addScaledInto(
  target: Float64Array,
  source: ArrayLike<number>,
  scale: number,
): Float64Array {
  for (let j = 0; j < target.length; j++) target[j] += scale * source[j];
  return target;
}

export function scaleInPlace(target: Float64Array, scale: number): Float64Array {
  for (let j = 0; j < target.length; j++) target[j] *= scale;
  return target;
}

export function isAllFinite(values: ArrayLike<number>): boolean {
  for (let j = 0; j < values.length; j++) {
    if (!Number.isFinite(values[j])) return false;
  }
  return true;
}

/** global + step · direction, rounded once to float32. */
export function applyStep(
  global: Float32Array,
  direction: ArrayLike<number>,
  step = 1,
): Float32Array {
  const model = new Float32Array(global.length);
  for (let j = 0; j < global.length; j++) model[j] = global[j] + step * direction[j];
  return model;
}

export function l2Norm(values: ArrayLike<number>): number {
  let sum = 0;
  for (let j = 0; j < values.length; j++) sum += values[j] * values[j];
  return Math.sqrt(sum);
}

export function squaredDistance(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let j = 0; j < a.length; j++) {
    const d = a[j] - b[j];
    sum += d * d;
  }
  return sum;
}

/**
 * Applies `reduce` to every coordinate's column of values (one per update), handing it
 * the column sorted ascending; the base of the coordinate-wise robust rules.
 */
export function reduceSortedColumns(
  vectors: readonly Float32Array[],
  reduce: (sortedColumn: Float64Array) => number,
): Float64Array {
  const length = vectors[0].length;
  const column = new Float64Array(vectors.length);
  const out = new Float64Array(length);
  for (let j = 0; j < length; j++) {
    for (let i = 0; i < vectors.length; i++) column[i] = vectors[i][j];
    column.sort();
    out[j] = reduce(column);
  }
  return out;
}
