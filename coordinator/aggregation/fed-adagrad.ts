import { createFedOptStrategy, type FedOptParameters } from "./fed-opt.js";
import type { Strategy } from "./types.js";

/** FedAdagrad: v_t = v_{t−1} + Δ_t², so every coordinate's step only ever shrinks. β₂ is unused. */
export function createFedAdagradStrategy(parameters: FedOptParameters): Strategy {
  return createFedOptStrategy("fedadagrad", parameters);
}
