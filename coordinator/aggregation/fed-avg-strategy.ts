import { meanDelta } from "./mean-delta.js";
import type { Strategy } from "./types.js";
import { applyStep } from "./vector-math.js";

/** FedAvg (McMahan et al. 2017): the next model is the global model plus the mean delta. */
export function createFedAvgStrategy(): Strategy {
  return {
    name: "fedavg",
    aggregate(parameters) {
      const { delta, privacy } = meanDelta(parameters);
      return { model: applyStep(parameters.global, delta), privacy };
    },
    clientConfig: () => ({}),
  };
}
