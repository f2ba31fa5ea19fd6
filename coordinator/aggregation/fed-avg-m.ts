import { createLinearStrategy } from "./linear-strategy.js";
import type { Strategy } from "./types.js";

export interface FedAvgMParameters {
  serverLearningRate: number;
  momentum: number;
}

/**
 * FedAvgM (Hsu et al. 2019): heavy-ball momentum on the server,
 *     v ← β·v + Δ̄,   w ← w + η·v,
 * with Δ̄ the (possibly noised) mean delta. Written with Δ̄ rather than the pseudo-gradient
 * −Δ̄ so the velocity points where the model moves; the two forms are the same update.
 * The velocity is the strategy state, under the key "velocity"; the binary32 arithmetic is
 * protocol/aggregation/model-rule.ts's.
 */
export function createFedAvgMStrategy({
  serverLearningRate,
  momentum,
}: FedAvgMParameters): Strategy {
  return createLinearStrategy({ name: "fedavgm", serverLearningRate, momentum });
}
