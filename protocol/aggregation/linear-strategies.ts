import type { StrategyName, StrategySpec } from "../job/strategy-spec.js";

/**
 * Strategies whose aggregate is the weighted sum of the updates, so that the next model follows
 * from the previous one, the exact aggregate S, W and the strategy's own state (model-rule.ts).
 * The robust rules (median, trimmed mean, Krum) look at each update, not only their sum: nobody
 * can check them without the updates.
 */
export const LINEAR_STRATEGIES = [
  "fedavg",
  "fedprox",
  "fedavgm",
  "fedadam",
  "fedyogi",
  "fedadagrad",
] as const satisfies readonly StrategyName[];

export type LinearStrategyName = (typeof LINEAR_STRATEGIES)[number];
export type LinearStrategySpec = Extract<StrategySpec, { name: LinearStrategyName }>;

export function isLinearStrategy(name: StrategyName): name is LinearStrategyName {
  return (LINEAR_STRATEGIES as readonly string[]).includes(name);
}

export function isLinearStrategySpec(spec: StrategySpec): spec is LinearStrategySpec {
  return isLinearStrategy(spec.name);
}
