import { NotEnoughUpdatesError } from "./errors.js";
import { robustInputs } from "./robust-inputs.js";
import type { AggregateReturnType, Strategy } from "./types.js";
import { applyStep, squaredDistance, weightedMean } from "./vector-math.js";

export interface KrumParameters {
  /** f: how many of the n updates may be Byzantine. */
  byzantine: number;
  /** Multi-Krum's m; absent for Krum (m = 1), defaults to n − f for Multi-Krum. */
  selected?: number;
}

/**
 * Krum scores (Blanchard et al. 2017, "Machine Learning with Adversaries: Byzantine
 * Tolerant Gradient Descent"): for each update, the sum of squared distances to its
 * n − f − 2 nearest neighbours. An honest update sits inside the honest cluster, so its
 * nearest neighbours are close; an outlier's are not. Needs n ≥ 2f + 3, the paper's bound.
 */
export function krumScores(deltas: readonly Float32Array[], byzantine: number): number[] {
  const n = deltas.length;
  if (n < 2 * byzantine + 3) {
    throw new NotEnoughUpdatesError(
      `Krum with f = ${byzantine} needs at least ${2 * byzantine + 3} updates`,
      {
        details: `got ${n}; Krum's guarantee requires n ≥ 2f + 3`,
      },
    );
  }
  const distances = deltas.map(() => new Float64Array(n));
  for (let i = 0; i < n; i++) {
    for (let k = i + 1; k < n; k++) {
      const d = squaredDistance(deltas[i], deltas[k]);
      distances[i][k] = d;
      distances[k][i] = d;
    }
  }
  const neighbours = n - byzantine - 2;
  return distances.map((row, i) => {
    const others = row.filter((_, k) => k !== i).sort();
    let score = 0;
    for (let k = 0; k < neighbours; k++) score += others[k];
    return score;
  });
}

/**
 * Krum picks the single best-scored update; Multi-Krum (same paper) averages the m best,
 * uniformly, so that a device's claimed sample count buys it no influence. Ties go to the
 * earlier update, which keeps the choice deterministic.
 */
export function createKrumStrategy(
  name: "krum" | "multi-krum",
  { byzantine, selected }: KrumParameters,
): Strategy {
  return {
    name,
    aggregate(parameters): AggregateReturnType {
      const deltas = robustInputs(name, parameters);
      const scores = krumScores(deltas, byzantine);
      const m = name === "krum" ? 1 : (selected ?? deltas.length - byzantine);
      if (m > deltas.length - byzantine) {
        throw new NotEnoughUpdatesError(
          `Multi-Krum cannot select ${m} of ${deltas.length} updates`,
          {
            details: `with f = ${byzantine} at most n − f = ${deltas.length - byzantine} may be selected`,
          },
        );
      }
      const chosen = scores
        .map((score, index) => ({ score, index }))
        .sort((a, b) => a.score - b.score || a.index - b.index)
        .slice(0, m)
        .map(({ index }) => index);
      const direction = weightedMean(
        chosen.map((index) => deltas[index]),
        chosen.map(() => 1),
      );
      return {
        model: applyStep(parameters.global, direction),
        selected: chosen.map((index) => parameters.updates[index].deviceId),
      };
    },
    clientConfig: () => ({}),
  };
}
