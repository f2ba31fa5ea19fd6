import { InvalidArgumentError } from "../../common/errors.js";
import type { JobSpec } from "../job/job-spec.js";
import { maxQuantized } from "../update/quantize.js";

/**
 * What the coordinator proves about its central-DP noise vector N (quantisation units), fixed by
 * the job's spec so that neither the coordinator nor a verifier chooses it (circuits/README.md,
 * "Proven DP noise"):
 *
 * - every N_j fits the noise circuit UpdateNormChunk(n, bits), |N_j| ≤ 2^(bits−1) − 1;
 * - ‖N‖² ≤ c2, proven chunk by chunk like a device's Σ q² ≤ ⌊(C/scale)²⌋.
 *
 * The noise is N_j = round(σ·g_j) with σ = z·C/scale and g_j standard normal draws
 * (coordinator/privacy/integer-gaussian-mechanism.ts). Its largest possible σ over the job is
 * σ_max = z·C/scale, or z·maxQ under adaptive clipping (the coordinator caps an adapted C at
 * scale·maxQ). Adaptive clipping gives part of z to the clipped count, so the noise it draws
 * has a smaller σ still; the bound below holds for it too.
 *
 * The range: Box–Muller on 53-bit uniforms never gives |g| above √(−2 ln 2⁻⁵³) ≈ 8.57
 * (noise-source.ts), so |N_j| ≤ 8.57·σ_max + ½.
 *
 * The norm: |round(x)| ≤ |x| + ½, so N_j² ≤ σ²g_j² + σ|g_j| + ¼, and by Cauchy–Schwarz
 * ‖N‖² ≤ σ²·χ + σ·√(P·χ) + P/4 = (σ·√χ + ½·√P)² with χ = Σ g_j², a χ² variable with P degrees
 * of freedom. Laurent and Massart (2000, Lemma 1) give Pr[χ ≥ P + 2√(P·t) + 2t] ≤ e^(−t); at
 * t = 40 that is below 5·10⁻¹⁸. So c2 = ⌈(σ_max·√(P + 2√(40P) + 80) + ½·√P)²⌉: an honest draw
 * exceeds it with probability below 5·10⁻¹⁸, and the coordinator draws again when it does (which
 * moves the mechanism's δ by at most that much).
 *
 * What the proof shows, and what it does not: N is an integer vector of norm at most √c2, so the
 * published aggregate is the weighted sum of the proven contributions plus a vector of that
 * norm, never more. It does not show that N was random: a coordinator could put anything of that
 * norm there, a nudge in a chosen direction included. X = scale·√c2 in model units is what
 * `fedproof verify` reports.
 */
export interface NoiseProofParameters {
  /** Bits of the noise chunk circuit: |N_j| ≤ 2^(bits−1) − 1. */
  bits: number;
  /** The bound on ‖N‖² in quantisation units (integers). */
  c2: bigint;
  /** σ_max = z·C_max/scale, the largest noise stddev of the job in quantisation units. */
  sigma: number;
  /** X = scale·√c2: the proven bound on the noise's norm in model units. */
  norm: number;
}

/** Box–Muller's largest |g| on 53-bit uniforms: √(−2 ln 2⁻⁵³) (noise-source.ts). */
export const GAUSSIAN_TAIL = Math.sqrt(-2 * Math.log(2 ** -53));

/** t of the χ² tail bound: Pr[‖N‖² > c2] ≤ e^(−t). */
export const NOISE_TAIL_EXPONENT = 40;

/**
 * The device id the noise proofs' context carries. Device ids match [A-Za-z0-9._:-]
 * (coordinator/grpc/join-request.ts), so no device's proof can have this context, and no noise
 * proof can pass for a device's.
 */
export const NOISE_PROOF_DEVICE_ID = "coordinator/noise";

/** Relative slack for binary64 rounding in σ_max and the bound (far below any real margin). */
const SLACK = 1 + 1e-9;

/** Bits above which the noise circuit cannot go (the aggregate check's field argument). */
const MAX_NOISE_BITS = 32;

export function noiseProofParameters(
  spec: Pick<JobSpec, "privacy" | "clipNorm" | "quantization">,
  paramCount: number,
): NoiseProofParameters {
  const z = spec.privacy.noiseMultiplier;
  if (!(z > 0)) {
    throw new InvalidArgumentError("the job adds no central-DP noise: there is nothing to prove");
  }
  if (!Number.isSafeInteger(paramCount) || paramCount < 1) {
    throw new InvalidArgumentError(`parameter count must be a positive integer, got ${paramCount}`);
  }
  const { bits: updateBits, scale } = spec.quantization;
  const ratio =
    spec.privacy.adaptiveClipQuantile > 0 ? maxQuantized(updateBits) : spec.clipNorm / scale;
  const sigma = z * ratio * SLACK;
  const maxAbs = Math.ceil(GAUSSIAN_TAIL * sigma * SLACK + 0.5);
  let bits = 2;
  while (bits <= MAX_NOISE_BITS && 2 ** (bits - 1) - 1 < maxAbs) bits++;
  if (bits > MAX_NOISE_BITS) {
    throw new InvalidArgumentError(
      `central-DP noise of σ = ${sigma.toPrecision(4)} quantisation steps (z = ${z}) does not fit the ${MAX_NOISE_BITS}-bit noise circuit`,
      {
        details: `the noise can reach ${maxAbs} steps; lower privacy.noiseMultiplier or raise quantization.scale`,
      },
    );
  }
  const P = paramCount;
  const t = NOISE_TAIL_EXPONENT;
  const chi = P + 2 * Math.sqrt(P * t) + 2 * t;
  const root = (sigma * Math.sqrt(chi) + 0.5 * Math.sqrt(P)) * SLACK;
  const c2 = BigInt(Math.ceil(root * root));
  return { bits, c2, sigma, norm: scale * Math.sqrt(Number(c2)) };
}
