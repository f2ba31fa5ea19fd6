import type { ClientUpdate } from "../aggregation/types.js";
import {
  addScaledInto,
  assertFiniteResult,
  assertUpdates,
  l2Norm,
  scaleInPlace,
} from "../aggregation/vector-math.js";
import { assertNumber } from "./assert-number.js";
import type { CentralPrivacyParameters, GaussianMechanismReport } from "./types.js";

/**
 * Central Gaussian mechanism for one round of DP-FedAvg (McMahan et al. 2018, "Learning
 * Differentially Private Recurrent Language Models", Algorithm 1 with uniform weights):
 *
 *     mean = ( Σᵢ clip_C(Δᵢ) + N(0, (z·C)² I) ) / n   =   Σᵢ clip_C(Δᵢ)/n + N(0, (zC/n)² I)
 *
 * Sensitivity. Each Δᵢ is clipped to ‖Δᵢ‖ ≤ C, so adding or removing one device changes
 * the SUM by at most C in L2 norm; noise of standard deviation z·C per coordinate on that
 * sum is the sampled Gaussian mechanism with noise multiplier z that `rdp-accountant.ts`
 * accounts for. Dividing by n afterwards is post-processing as long as n does not depend
 * on who took part: pass `denominator` = the expected number of contributions per round
 * (McMahan et al.'s fixed-denominator estimator) for the strict guarantee; when it is left
 * out, n is the number of contributions, which is the usual practice when the round engine
 * samples a fixed, public number of devices.
 *
 * Why uniform and not sample-count weights: with weights, device i moves the mean by up to
 * wᵢ·C/Σw, and a device may claim any sample count, so the sensitivity would be unbounded
 * (McMahan et al. must cap weights for the same reason). With DP on, every contribution
 * counts once and `ClientUpdate.weight` is ignored.
 *
 * Devices clip before they prove, so the clip here should be a no-op; it is repeated
 * because the guarantee must not rest on rounding in quantisation. `reclipped` counts
 * contributions that were more than a float32 rounding error above C.
 */
export interface GaussianMechanismParameters extends CentralPrivacyParameters {
  updates: readonly ClientUpdate[];
}

export interface GaussianMechanismReturnType {
  mean: Float32Array;
  report: GaussianMechanismReport;
}

/** Relative slack for counting (not for clipping): float32 dequantisation rounds norms. */
const RECLIP_REPORT_SLACK = 1e-5;

export function gaussianMechanism(
  parameters: GaussianMechanismParameters,
): GaussianMechanismReturnType {
  const { updates, clipNorm, noiseMultiplier, rng } = parameters;
  assertNumber("clipNorm", clipNorm, { min: 0, aboveMin: true });
  assertNumber("noiseMultiplier", noiseMultiplier, { min: 0 });
  assertUpdates(updates);
  const denominator = parameters.denominator ?? updates.length;
  assertNumber("denominator", denominator, { min: 0, aboveMin: true });

  const sum = new Float64Array(updates[0].delta.length);
  let reclipped = 0;
  for (const update of updates) {
    const norm = l2Norm(update.delta);
    if (norm > clipNorm * (1 + RECLIP_REPORT_SLACK)) reclipped++;
    addScaledInto(sum, update.delta, norm > clipNorm ? clipNorm / norm : 1);
  }
  assertFiniteResult(sum, updates);

  const sumStddev = noiseMultiplier * clipNorm;
  if (sumStddev > 0) {
    for (let j = 0; j < sum.length; j++) sum[j] += sumStddev * rng.normal();
  }
  return {
    mean: Float32Array.from(scaleInPlace(sum, 1 / denominator)),
    report: {
      clipNorm,
      noiseMultiplier,
      noiseStddev: sumStddev / denominator,
      denominator,
      contributions: updates.length,
      reclipped,
    },
  };
}
