/**
 * The randomness the privacy code needs, structurally: a uniform and a standard-normal draw.
 * Tests may pass a seeded simulation generator (protocol/random.ts) to replay a draw; real
 * noise must come from `createNoiseSource()` (noise-source.ts), because noise anyone can
 * reproduce can be subtracted from the published model, and the guarantee with it.
 */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Standard normal N(0, 1). */
  normal(): number;
}

/** Central Gaussian DP for one round of averaging. */
export interface CentralPrivacyParameters {
  /** C: every contribution is (re-)clipped to ‖Δ‖ ≤ C, which bounds the sum's sensitivity. */
  clipNorm: number;
  /** z: the noise on the sum has standard deviation z·C per coordinate. */
  noiseMultiplier: number;
  rng: Rng;
  /**
   * n in mean = (Σ clip(Δᵢ) + N(0, (zC)²)) / n. Defaults to the number of contributions.
   * For the add/remove-one guarantee of McMahan et al. 2018 pass the expected number of
   * contributions per round (a public constant, q·N), so that the division is
   * post-processing and does not depend on who took part.
   */
  denominator?: number;
}

/** What the mechanism did, for logs and for the privacy ledger. */
export interface GaussianMechanismReport {
  clipNorm: number;
  noiseMultiplier: number;
  /** Standard deviation of the noise per coordinate of the mean: z·C / n. */
  noiseStddev: number;
  denominator: number;
  contributions: number;
  /** How many contributions exceeded C and were clipped again here (should be 0). */
  reclipped: number;
}
