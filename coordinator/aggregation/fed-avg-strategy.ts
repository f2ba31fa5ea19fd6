import { createLinearStrategy } from "./linear-strategy.js";
import type { Strategy } from "./types.js";

/** FedAvg (McMahan et al. 2017): the next model is the global model plus the mean delta. */
export function createFedAvgStrategy(): Strategy {
  return createLinearStrategy({ name: "fedavg" });
}
