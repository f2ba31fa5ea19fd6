import { robustInputs } from "./robust-inputs.js";
import type { Strategy } from "./types.js";
import { applyStep, reduceSortedColumns } from "./vector-math.js";

/** The median of a sorted column; the mean of the two middle values when n is even. */
export function medianOfSorted(sorted: Float64Array): number {
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/**
 * Coordinate-wise median (Yin et al. 2018, "Byzantine-Robust Distributed Learning: Towards
 * Optimal Statistical Rates"): each coordinate of the aggregated delta is the median of
 * that coordinate over the updates, so fewer than half of the devices cannot drag it
 * outside the range of the honest values.
 */
export function createMedianStrategy(): Strategy {
  return {
    name: "median",
    aggregate(parameters) {
      const deltas = robustInputs("median", parameters);
      return { model: applyStep(parameters.global, reduceSortedColumns(deltas, medianOfSorted)) };
    },
    clientConfig: () => ({}),
  };
}
