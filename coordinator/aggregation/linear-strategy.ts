import type { LinearStrategySpec } from "../../protocol/aggregation/linear-strategies.js";
import { serverStep } from "../../protocol/aggregation/model-rule.js";
import { meanDelta } from "./mean-delta.js";
import type { ClientConfig, Strategy } from "./types.js";

/**
 * A weighted-mean strategy on float deltas: the (possibly noised) mean delta, then the server
 * step of protocol/aggregation/model-rule.ts, the same binary32 step the aggregate worker runs on
 * the exact aggregate and `fedproof verify` replays. Used where updates come as floats (the
 * benchmarks, the strategy tests); the aggregate worker takes the exact path (exact-round.ts).
 */
export function createLinearStrategy(
  spec: LinearStrategySpec,
  clientConfig: (round: number) => ClientConfig = () => ({}),
): Strategy {
  return {
    name: spec.name,
    aggregate(parameters) {
      const { delta, privacy } = meanDelta(parameters);
      const { model, state } = serverStep({
        strategy: spec,
        global: parameters.global,
        delta,
        state: parameters.state?.vectors,
      });
      return {
        model,
        ...(state ? { state: { vectors: state, scalars: {} } } : {}),
        privacy,
      };
    },
    clientConfig,
  };
}
