import { robustInputs } from "./robust-inputs.js";
import type { Strategy } from "./types.js";
import { applyStep, reduceSortedColumns } from "./vector-math.js";

export interface TrimmedMeanParameters {
  /** Fraction of the updates dropped at EACH end of every coordinate, in [0, ½). */
  beta: number;
}

/**
 * Coordinate-wise β-trimmed mean (Yin et al. 2018): per coordinate, drop the ⌊βn⌋ largest
 * and ⌊βn⌋ smallest values and average the rest. Tolerates up to ⌊βn⌋ arbitrary devices
 * while keeping more of the honest signal than the median. Since β < ½, at least one value
 * always survives the trim.
 */
export function createTrimmedMeanStrategy({ beta }: TrimmedMeanParameters): Strategy {
  return {
    name: "trimmed-mean",
    aggregate(parameters) {
      const deltas = robustInputs("trimmed-mean", parameters);
      const trim = Math.floor(beta * deltas.length);
      const trimmedMean = (sorted: Float64Array): number => {
        let sum = 0;
        for (let i = trim; i < sorted.length - trim; i++) sum += sorted[i];
        return sum / (sorted.length - 2 * trim);
      };
      return { model: applyStep(parameters.global, reduceSortedColumns(deltas, trimmedMean)) };
    },
    clientConfig: () => ({}),
  };
}
