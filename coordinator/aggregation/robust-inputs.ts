import { InvalidArgumentError } from "../../common/errors.js";
import type { AggregateParameters, StrategyName } from "./types.js";
import { assertFiniteValues, assertUpdates } from "./vector-math.js";

/**
 * Checks what every Byzantine-robust rule needs and returns the deltas.
 *
 * Robust rules ignore sample counts on purpose: a device can claim any count, and letting
 * it weigh more would hand an attacker the influence the rule exists to deny. They also
 * refuse central DP: the Gaussian mechanism's noise is calibrated to the sensitivity C/n
 * of a mean, and a median or a Krum selection can move by more than that when one input
 * changes, so the claimed ε would be false.
 */
export function robustInputs(name: StrategyName, parameters: AggregateParameters): Float32Array[] {
  if (parameters.privacy !== undefined) {
    throw new InvalidArgumentError(`strategy "${name}" cannot be combined with central DP`, {
      details: "the Gaussian mechanism is calibrated for a mean; use a mean-based strategy",
    });
  }
  assertUpdates(parameters.updates, parameters.global.length);
  // Sorting and distance ranking would silently misplace NaNs, so check every value up front.
  assertFiniteValues(parameters.updates);
  return parameters.updates.map((update) => update.delta);
}
