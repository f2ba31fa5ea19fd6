import { gaussianMechanism } from "../privacy/gaussian-mechanism.js";
import type { GaussianMechanismReport } from "../privacy/types.js";
import { fedAvg } from "./fed-avg.js";
import type { AggregateParameters } from "./types.js";
import { assertUpdates } from "./vector-math.js";

export interface MeanDeltaReturnType {
  delta: Float32Array;
  privacy?: GaussianMechanismReport;
}

/**
 * The averaged delta every mean-based strategy (FedAvg and the server optimisers built on
 * it) starts from: the sample-weighted mean, or, when the job asks for central DP, the
 * Gaussian mechanism's noised uniform mean. The server optimisers then only post-process
 * it, which keeps the privacy guarantee intact.
 */
export function meanDelta(parameters: AggregateParameters): MeanDeltaReturnType {
  const { updates, global, privacy } = parameters;
  assertUpdates(updates, global.length);
  if (privacy === undefined) return { delta: fedAvg(updates) };
  const { mean, report } = gaussianMechanism({ ...privacy, updates });
  return { delta: mean, privacy: report };
}
