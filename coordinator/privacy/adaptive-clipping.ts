import { InvalidArgumentError } from "../../common/errors.js";
import { assertNumber } from "./assert-number.js";
import type { Rng } from "./types.js";

/**
 * Adaptive clipping (Andrew, Thakkar, McMahan, Ramaswamy 2021, "Differentially Private
 * Learning with Adaptive Clipping", Algorithm 1). A fixed clip norm C is hard to choose:
 * too small biases every update, too large drowns them in noise (σ ∝ C). Instead C tracks
 * the γ-quantile of the update norms privately. Each contribution gives one bit
 * bᵢ = [‖Δᵢ‖ ≤ C] (before clipping; here established by the coordinator from the update it
 * received, see belowClipIndicator); the server forms the noised fraction
 *
 *     b̃ = (Σᵢ bᵢ + N(0, σ_b²)) / n
 *
 * and takes a geometric step  C ← C · exp(−η_C · (b̃ − γ)).  If more than a γ fraction of
 * the updates already fit under C, C shrinks; if fewer, it grows. The geometric form makes
 * the step size relative, so C adapts equally well at norms of 0.01 and of 100.
 */
export interface AdaptClipNormParameters {
  /** The clip norm used in this round. */
  clipNorm: number;
  /** bᵢ = whether device i's update norm was ≤ clipNorm before clipping; one per contribution. */
  belowClip: readonly boolean[];
  /** Target quantile γ ∈ (0, 1); the paper's default is 0.5 (the median norm). */
  targetQuantile?: number;
  /** η_C > 0; the paper uses 0.2. */
  learningRate?: number;
  /**
   * σ_b, noise on the COUNT Σ bᵢ. The paper's default is n/20 (expected contributions per
   * round / 20). 0 switches the noise off, which is only acceptable without DP.
   */
  countNoiseStddev?: number;
  /** n; defaults to belowClip.length. As in the Gaussian mechanism, pass the expected count for the fixed-denominator guarantee. */
  denominator?: number;
  rng: Rng;
}

export interface AdaptClipNormReturnType {
  /** C for the next round. */
  clipNorm: number;
  /** b̃, the noised fraction that drove the step (may leave [0, 1] because of the noise). */
  noisedFraction: number;
}

export const ADAPTIVE_CLIPPING_DEFAULTS = Object.freeze({
  targetQuantile: 0.5,
  learningRate: 0.2,
  /** σ_b = n / countNoiseDivisor. */
  countNoiseDivisor: 20,
});

export function adaptClipNorm(parameters: AdaptClipNormParameters): AdaptClipNormReturnType {
  const {
    clipNorm,
    belowClip,
    targetQuantile = ADAPTIVE_CLIPPING_DEFAULTS.targetQuantile,
    learningRate = ADAPTIVE_CLIPPING_DEFAULTS.learningRate,
    rng,
  } = parameters;
  assertNumber("clipNorm", clipNorm, { min: 0, aboveMin: true });
  assertNumber("targetQuantile", targetQuantile, {
    min: 0,
    max: 1,
    aboveMin: true,
    belowMax: true,
  });
  assertNumber("learningRate", learningRate, { min: 0, aboveMin: true });
  if (belowClip.length === 0) {
    throw new InvalidArgumentError("adaptive clipping needs at least one contribution");
  }
  const denominator = parameters.denominator ?? belowClip.length;
  assertNumber("denominator", denominator, { min: 0, aboveMin: true });
  const countNoiseStddev =
    parameters.countNoiseStddev ?? denominator / ADAPTIVE_CLIPPING_DEFAULTS.countNoiseDivisor;
  assertNumber("countNoiseStddev", countNoiseStddev, { min: 0 });

  const count = belowClip.reduce((sum, below) => sum + (below ? 1 : 0), 0);
  const noise = countNoiseStddev > 0 ? countNoiseStddev * rng.normal() : 0;
  const noisedFraction = (count + noise) / denominator;
  return {
    clipNorm: clipNorm * Math.exp(-learningRate * (noisedFraction - targetQuantile)),
    noisedFraction,
  };
}

export interface ClipIndicatorParameters {
  /**
   * Σ q² of the update as the coordinator established it: the running sum the last UpdateNorm
   * chunk proof exposes, or (without proofs) the sum over the received bytes — equal, since the
   * proofs' commitments are recomputed over those bytes. Never a number the device reports.
   */
  squaredNormQ: bigint;
  /** The job's quantisation step. */
  scale: number;
  /** The C the update was clipped to. */
  clipNorm: number;
  /** Values in the update. */
  paramCount: number;
}

/** ‖Δ‖ of a quantised update: √(Σ q²) · scale. */
export function quantizedUpdateNorm(squaredNormQ: bigint, scale: number): number {
  return Math.sqrt(Number(squaredNormQ)) * scale;
}

/**
 * bᵢ from what the coordinator received. The paper's bᵢ = [‖Δᵢ‖ ≤ C] is about the norm before
 * clipping, which only the device knows, and a device-reported norm is whatever the device
 * wants (one that claims 10⁹ every round pushes C up without bound). What the coordinator can
 * see is whether the update was clipped: a clipped update arrives with ‖Δ‖ at C, less the
 * quantisation error (rounding moves the norm by at most √n·scale/2, and prepareUpdate shrinks
 * by about that once or twice more), while an unclipped one keeps its own, smaller norm. So
 * bᵢ = [‖Δᵢ‖ < C − margin], margin = max(C/100, 2√n·scale) (at most C/2). An update in the
 * band just below C counts as clipped; the cost is a γ-quantile tracked up to that margin.
 * A device still moves C by at most its one bit, which the count noise σ_b is calibrated for.
 */
export function belowClipIndicator(parameters: ClipIndicatorParameters): boolean {
  const { squaredNormQ, scale, clipNorm, paramCount } = parameters;
  assertNumber("clipNorm", clipNorm, { min: 0, aboveMin: true });
  assertNumber("scale", scale, { min: 0, aboveMin: true });
  const margin = Math.min(
    clipNorm / 2,
    Math.max(clipNorm / 100, 2 * Math.sqrt(paramCount) * scale),
  );
  return quantizedUpdateNorm(squaredNormQ, scale) < clipNorm - margin;
}

export interface UpdateNoiseMultiplierParameters {
  /** z: the noise multiplier the accountant is told about (the round's total privacy cost). */
  noiseMultiplier: number;
  /** σ_b, the noise on the clip-indicator count. */
  countNoiseStddev: number;
}

/**
 * The clip-indicator count is a second query on the same devices, so it spends privacy too.
 * Andrew et al. 2021 (Theorem 1) show that noising the updates with multiplier z_Δ and the
 * count (sensitivity ½ after centring the bits) with σ_b costs as much as one Gaussian
 * mechanism with z = (z_Δ⁻² + (2σ_b)⁻²)^(−1/2). To keep the accounted z, the updates must
 * therefore be noised with z_Δ = (z⁻² − (2σ_b)⁻²)^(−1/2), slightly more than z.
 */
export function updateNoiseMultiplier({
  noiseMultiplier,
  countNoiseStddev,
}: UpdateNoiseMultiplierParameters): number {
  assertNumber("noiseMultiplier", noiseMultiplier, { min: 0, aboveMin: true });
  assertNumber("countNoiseStddev", countNoiseStddev, { min: 0, aboveMin: true });
  const remaining = noiseMultiplier ** -2 - (2 * countNoiseStddev) ** -2;
  if (remaining <= 0) {
    throw new InvalidArgumentError("the clip-count noise is too small for this noise multiplier", {
      details: `need 2·σ_b > z, got σ_b = ${countNoiseStddev}, z = ${noiseMultiplier}`,
    });
  }
  return remaining ** -0.5;
}
