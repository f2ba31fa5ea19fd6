import { createLinearStrategy } from "./linear-strategy.js";
import type { Strategy } from "./types.js";

export interface FedProxParameters {
  mu: number;
}

/**
 * FedProx (Li et al. 2020). Everything FedProx changes happens on the devices: each
 * minimises its loss plus (μ/2)‖w − w_global‖², which keeps heterogeneous devices from
 * drifting apart. The server aggregates exactly as FedAvg does; μ reaches the devices
 * through `clientConfig`.
 */
export function createFedProxStrategy({ mu }: FedProxParameters): Strategy {
  return createLinearStrategy({ name: "fedprox", mu }, () => ({ proximalMu: mu }));
}
