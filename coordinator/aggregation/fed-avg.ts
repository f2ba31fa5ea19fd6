import type { ClientUpdate } from "./types.js";
import { assertFiniteResult, assertUpdates, weightedMean } from "./vector-math.js";

/**
 * FedAvg's aggregate (McMahan et al. 2017): the sample-count-weighted mean of the deltas,
 * Σ nᵢΔᵢ / Σ nᵢ, accumulated in float64 and rounded once to float32.
 *
 * Throws InvalidArgumentError on an empty list, deltas of different lengths, a weight that
 * is not a positive finite number, or a NaN/infinity inside a delta.
 */
export function fedAvg(updates: ClientUpdate[]): Float32Array {
  assertUpdates(updates);
  const mean = weightedMean(
    updates.map((update) => update.delta),
    updates.map((update) => update.weight),
  );
  assertFiniteResult(mean, updates);
  return Float32Array.from(mean);
}
