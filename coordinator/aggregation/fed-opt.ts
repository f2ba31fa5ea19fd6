import { meanDelta } from "./mean-delta.js";
import { readStateVector } from "./state-vectors.js";
import type { Strategy, StrategyName } from "./types.js";

/**
 * The second-moment rule that tells FedAdagrad, FedAdam and FedYogi apart:
 * v_t from v_{t−1} and the squared mean delta Δ_t².
 */
export type SecondMomentRule = (previous: number, squaredDelta: number, beta2: number) => number;

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
 *     v_t = rule(v_{t−1}, Δ_t², β₂)
 *     x_{t+1} = x_t + η · m_t / (√v_t + τ)
 *
 * starting from m₋₁ = 0 and v₋₁ = τ² (the paper asks for v₋₁ ≥ τ²). Like the paper and
 * unlike Adam, there is no bias correction: τ already keeps the first steps bounded.
 * m and v are the strategy state, under the keys "m" and "v".
 */
export function createFedOptStrategy(
  name: StrategyName,
  secondMoment: SecondMomentRule,
  { serverLearningRate, beta1, beta2, tau }: FedOptParameters,
): Strategy {
  return {
    name,
    aggregate(parameters) {
      const { delta, privacy } = meanDelta(parameters);
      const { global, state } = parameters;
      const m = readStateVector(state, "m", global.length, 0);
      const v = readStateVector(state, "v", global.length, tau * tau);
      const model = new Float32Array(global.length);
      for (let j = 0; j < global.length; j++) {
        m[j] = beta1 * m[j] + (1 - beta1) * delta[j];
        v[j] = secondMoment(v[j], delta[j] * delta[j], beta2);
        model[j] = global[j] + (serverLearningRate * m[j]) / (Math.sqrt(v[j]) + tau);
      }
      return {
        model,
        state: { vectors: { m: Float32Array.from(m), v: Float32Array.from(v) }, scalars: {} },
        privacy,
      };
    },
    clientConfig: () => ({}),
  };
}
