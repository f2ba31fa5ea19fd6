import { meanDelta } from "./mean-delta.js";
import { readStateVector } from "./state-vectors.js";
import type { Strategy } from "./types.js";
import { applyStep } from "./vector-math.js";

export interface FedAvgMParameters {
  serverLearningRate: number;
  momentum: number;
}

/**
 * FedAvgM (Hsu et al. 2019): heavy-ball momentum on the server,
 *     v ← β·v + Δ̄,   w ← w + η·v,
 * with Δ̄ the (possibly noised) mean delta. Written with Δ̄ rather than the pseudo-gradient
 * −Δ̄ so the velocity points where the model moves; the two forms are the same update.
 * The velocity is the strategy state, under the key "velocity".
 */
export function createFedAvgMStrategy({
  serverLearningRate,
  momentum,
}: FedAvgMParameters): Strategy {
  return {
    name: "fedavgm",
    aggregate(parameters) {
      const { delta, privacy } = meanDelta(parameters);
      const velocity = readStateVector(parameters.state, "velocity", delta.length, 0);
      for (let j = 0; j < velocity.length; j++) velocity[j] = momentum * velocity[j] + delta[j];
      return {
        model: applyStep(parameters.global, velocity, serverLearningRate),
        state: { vectors: { velocity: Float32Array.from(velocity) }, scalars: {} },
        privacy,
      };
    },
    clientConfig: () => ({}),
  };
}
