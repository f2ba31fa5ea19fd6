import { createFedOptStrategy, type FedOptParameters } from "./fed-opt.js";
import type { Strategy } from "./types.js";

/** FedAdam: v_t = β₂·v_{t−1} + (1 − β₂)·Δ_t², an exponential average of Δ². */
export function createFedAdamStrategy(parameters: FedOptParameters): Strategy {
  return createFedOptStrategy("fedadam", parameters);
}
