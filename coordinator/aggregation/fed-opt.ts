import { createLinearStrategy } from "./linear-strategy.js";
import type { Strategy } from "./types.js";

export interface FedOptParameters {
  serverLearningRate: number;
  beta1: number;
  beta2: number;
  tau: number;
}

/**
 * The shared body of Reddi et al. 2021, "Adaptive Federated Optimization", Algorithm 2,
 * with Δ_t the (possibly noised) mean delta of the round:
 *
 *     m_t = β₁·m_{t−1} + (1 − β₁)·Δ_t
 *     v_t = rule(v_{t−1}, Δ_t², β₂)          (FedAdam, FedYogi, FedAdagrad differ here only)
 *     x_{t+1} = x_t + η · m_t / (√v_t + τ)
 *
 * starting from m₋₁ = 0 and v₋₁ = τ² (the paper asks for v₋₁ ≥ τ²). Like the paper and
 * unlike Adam, there is no bias correction: τ already keeps the first steps bounded.
 * m and v are the strategy state, under the keys "m" and "v", in binary32; the exact sequence
 * of binary32 operations is protocol/aggregation/model-rule.ts's, which verifiers replay.
 */
export function createFedOptStrategy(
  name: "fedadam" | "fedyogi" | "fedadagrad",
  parameters: FedOptParameters,
): Strategy {
  return createLinearStrategy({ name, ...parameters });
}
