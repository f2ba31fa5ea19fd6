import { createFedOptStrategy, type FedOptParameters } from "./fed-opt.js";
import type { Strategy } from "./types.js";

/**
 * FedYogi: v_t = v_{t−1} − (1 − β₂)·Δ_t²·sign(v_{t−1} − Δ_t²). Unlike Adam's average, v
 * moves by an amount that does not depend on v itself, so it cannot collapse quickly after
 * a few large updates (Zaheer et al. 2018), which matters with few, noisy clients.
 */
export function createFedYogiStrategy(parameters: FedOptParameters): Strategy {
  return createFedOptStrategy("fedyogi", parameters);
}
