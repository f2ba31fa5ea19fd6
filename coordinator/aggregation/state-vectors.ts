import { InvalidArgumentError } from "../../common/errors.js";
import type { StrategyState } from "./types.js";

/**
 * A copy of the state vector `key` as float64 working memory, or `initial` everywhere when
 * there is no state yet (first round). A stored vector of another length means the state
 * belongs to another model and must not be silently reused.
 */
export function readStateVector(
  state: StrategyState | undefined,
  key: string,
  length: number,
  initial: number,
): Float64Array {
  const stored = state?.vectors[key];
  if (stored === undefined) return new Float64Array(length).fill(initial);
  if (stored.length !== length) {
    throw new InvalidArgumentError(`strategy state "${key}" does not fit this model`, {
      details: `state holds ${stored.length} values, the model has ${length}`,
    });
  }
  return Float64Array.from(stored);
}
