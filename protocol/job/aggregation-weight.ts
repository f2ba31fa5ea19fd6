import type { JobSpec } from "./job-spec.js";

/**
 * What a contribution weighs in a sample-weighted mean: the sample count fixed at Join (in a
 * job with proofs, the count its DataValidity proof proves), capped by the job's
 * `maxSamplesPerDevice`. Never a number from the upload: a weight is not the device's to pick
 * per round, and even an honest large device must not outweigh the cap.
 *
 * With central DP every contribution weighs 1: the noise is calibrated to one device moving the
 * sum by at most C, which a sample weight would break (coordinator/privacy/
 * integer-gaussian-mechanism.ts). The aggregate worker and `fedproof verify` both take the weight
 * from here, so they cannot disagree.
 */
export function aggregationWeight(
  samples: number,
  spec: Partial<Pick<JobSpec, "maxSamplesPerDevice" | "privacy">>,
): number {
  if ((spec.privacy?.noiseMultiplier ?? 0) > 0) return 1;
  // Specs stored before the cap existed have none.
  const cap = spec.maxSamplesPerDevice ?? Number.POSITIVE_INFINITY;
  return Math.min(samples, cap);
}
