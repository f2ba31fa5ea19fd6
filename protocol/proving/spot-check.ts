import { InvalidArgumentError } from "../../common/errors.js";

/**
 * Soundness of the DataValidity spot check. Each proof opens k records at indices
 * (low 64 bits of Poseidon(context, s)) mod sampleCount, s = 0..k−1: independent and uniform
 * (up to a bias below sampleCount/2^64) and with replacement. A dataset whose fraction f of
 * committed records is invalid passes one proof only if all k indices miss the invalid ones:
 *
 *   per round:  (1 − f)^k
 *   per job:    (1 − f)^(k·R)   over R rounds, when the first failed check excludes the device
 *
 * Each round's context differs (round number, global model), so the rounds draw fresh indices.
 * The R-round figure assumes the device must answer every round it is selected for: one that
 * may skip a round unpunished can compute the indices first and answer only when they miss its
 * bad records, and then each accepted contribution is only as sound as one round.
 */
export function spotCheckSoundnessError(k: number, invalidFraction: number, rounds = 1): number {
  if (!Number.isInteger(k) || k < 1) {
    throw new InvalidArgumentError(
      `the number of records opened must be a positive integer, got ${k}`,
    );
  }
  if (!(invalidFraction >= 0 && invalidFraction <= 1)) {
    throw new InvalidArgumentError(
      `the invalid fraction must lie in [0, 1], got ${invalidFraction}`,
    );
  }
  if (!Number.isInteger(rounds) || rounds < 1) {
    throw new InvalidArgumentError(`rounds must be a positive integer, got ${rounds}`);
  }
  return (1 - invalidFraction) ** (k * rounds);
}

/** The least k whose per-round error at `invalidFraction` is at most `targetError`. */
export function spotChecksFor(targetError: number, invalidFraction: number): number {
  if (!(targetError > 0 && targetError < 1)) {
    throw new InvalidArgumentError(`the target error must lie in (0, 1), got ${targetError}`);
  }
  if (!(invalidFraction > 0 && invalidFraction <= 1)) {
    throw new InvalidArgumentError(
      `the invalid fraction must lie in (0, 1], got ${invalidFraction}`,
    );
  }
  if (invalidFraction === 1) return 1;
  const k = Math.ceil(Math.log(targetError) / Math.log(1 - invalidFraction));
  // Guard the floating-point edge (e.g. exactly 1/256 at f = 1/2).
  return spotCheckSoundnessError(Math.max(1, k - 1), invalidFraction) <= targetError
    ? Math.max(1, k - 1)
    : Math.max(1, k);
}
