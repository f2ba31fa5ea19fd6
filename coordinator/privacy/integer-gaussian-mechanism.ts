import { InvalidArgumentError } from "../../common/errors.js";
import {
  addIntegerNoise,
  type ExactAggregate,
  sumWeightedUpdates,
} from "../../protocol/aggregation/exact-aggregate.js";
import { quantizedNormBound, squaredNormQuantized } from "../../protocol/update/quantize.js";
import { assertNumber } from "./assert-number.js";
import type { CentralPrivacyParameters, GaussianMechanismReport } from "./types.js";

/**
 * The central Gaussian mechanism of gaussian-mechanism.ts on the exact aggregate, in
 * quantisation units, so that the noised sum stays an integer vector a verifier can hash and
 * replay (protocol/aggregation):
 *
 *     S' = Σᵢ qᵢ + N,   N_j = round(σ_q · g_j),   σ_q = z·C / scale,   g_j ~ N(0, 1)
 *
 * and the model rule divides by the fixed `denominator`. In model units S'·scale is
 * Σᵢ Δᵢ + scale·N, and scale·σ_q = z·C: the same noise on the same sum as the float mechanism,
 * so the accounting (rdp-accountant.ts with noise multiplier z) is unchanged. Rounding the noised
 * sum S + x to an integer is round(x) added to the integer S: post-processing of the continuous
 * mechanism, which cannot weaken the guarantee.
 *
 * Sensitivity. Each update was accepted with Σ q² ≤ ⌊(C/scale)²⌋ (the verify worker's bound,
 * exact in integers), so ‖qᵢ·scale‖ ≤ C and one device moves the sum by at most C. The float
 * mechanism re-clips because float norms round; here the bound is exact, and an update above it
 * is refused rather than rescaled (rescaling would leave the integers). Uniform weights, as in
 * the float mechanism: a claimed sample count must not buy influence.
 */
export interface IntegerGaussianMechanismParameters extends CentralPrivacyParameters {
  updates: readonly { id: string; q: Int32Array }[];
  length: number;
  /** The job's quantisation step. */
  scale: number;
  /**
   * The spec's bound on Σ N_j² (protocol/aggregation/noise-bound.ts), when the noise is proven:
   * a draw above it (probability below 5·10⁻¹⁸) is drawn again, since no proof could be made.
   */
  noiseBound?: bigint;
}

export interface IntegerGaussianMechanismReturnType {
  aggregate: ExactAggregate;
  /** N itself, integers: what the coordinator commits to and proves a bound on. */
  noise: Float64Array;
  /** Σ N_j², an integer: what the noise proof bounds. */
  noiseSquaredNorm: bigint;
  report: GaussianMechanismReport;
}

export function integerGaussianMechanism(
  parameters: IntegerGaussianMechanismParameters,
): IntegerGaussianMechanismReturnType {
  const { updates, clipNorm, noiseMultiplier, rng, scale, length } = parameters;
  assertNumber("clipNorm", clipNorm, { min: 0, aboveMin: true });
  assertNumber("noiseMultiplier", noiseMultiplier, { min: 0 });
  assertNumber("scale", scale, { min: 0, aboveMin: true });
  const denominator = parameters.denominator ?? updates.length;
  assertNumber("denominator", denominator, { min: 0, aboveMin: true, integer: true });

  const bound = quantizedNormBound(clipNorm, scale);
  for (const update of updates) {
    const squared = squaredNormQuantized(update.q);
    if (squared > bound) {
      throw new InvalidArgumentError(`update from ${update.id} exceeds the clip bound`, {
        details: `Σq² = ${squared} > ${bound} (C = ${clipNorm}): central DP needs every update within C`,
      });
    }
  }
  const sum = sumWeightedUpdates(
    updates.map((update) => ({ ...update, weight: 1 })),
    length,
  );

  const sumStddev = noiseMultiplier * clipNorm;
  const stddevQ = sumStddev / scale;
  let drawn = drawIntegerNoise(length, stddevQ, rng);
  for (let attempt = 1; parameters.noiseBound !== undefined; attempt++) {
    if (drawn.squaredNorm <= parameters.noiseBound) break;
    if (attempt >= MAX_DRAWS) {
      throw new InvalidArgumentError(
        `${MAX_DRAWS} noise draws in a row exceeded the proven bound Σ N² ≤ ${parameters.noiseBound}`,
        { details: `σ = ${stddevQ} quantisation steps: the bound does not belong to this noise` },
      );
    }
    drawn = drawIntegerNoise(length, stddevQ, rng);
  }
  const { noise, squaredNorm: noiseSquaredNorm } = drawn;
  return {
    aggregate: addIntegerNoise(sum, noise, denominator),
    noise,
    noiseSquaredNorm,
    report: {
      clipNorm,
      noiseMultiplier,
      noiseStddev: sumStddev / denominator,
      denominator,
      contributions: updates.length,
      reclipped: 0,
    },
  };
}

/** An honest draw exceeds the bound with probability below 5·10⁻¹⁸; eight in a row is a bug. */
const MAX_DRAWS = 8;

/** N_j = round(σ·g_j), rounded half away from zero as quantize does, and Σ N_j² exactly. */
function drawIntegerNoise(
  length: number,
  stddevQ: number,
  rng: IntegerGaussianMechanismParameters["rng"],
): { noise: Float64Array; squaredNorm: bigint } {
  const noise = new Float64Array(length);
  let squaredNorm = 0n;
  let partial = 0;
  for (let j = 0; j < length; j++) {
    const x = stddevQ > 0 ? stddevQ * rng.normal() : 0;
    // `+ 0` turns −0 into 0.
    const n = Math.sign(x) * Math.round(Math.abs(x)) + 0;
    noise[j] = n;
    const square = n * n;
    if (!Number.isSafeInteger(square) || partial + square > Number.MAX_SAFE_INTEGER) {
      squaredNorm += BigInt(partial);
      partial = 0;
      squaredNorm += BigInt(n) * BigInt(n);
    } else {
      partial += square;
    }
  }
  return { noise, squaredNorm: squaredNorm + BigInt(partial) };
}
