/**
 * The (ε, δ) a job with central DP has spent after a number of rounds. The round engine asks
 * before a round starts (the budget's veto); the aggregate worker records it on the round.
 */
import type { JobSpec } from "../../protocol/job/job-spec.js";
import { samplingPopulation } from "../../protocol/job/sampling-population.js";
import type { JobRecord, JobStore } from "../store/job-store.js";
import { computeRdp, DEFAULT_RDP_ORDERS, epsilonAfter, rdpToEpsilon } from "./rdp-accountant.js";

/**
 * Counts the "attested" population as round `round` starts: the distinct attested datasets
 * (nullifiers of verified data proofs) recorded so far, frozen for the round by the first call.
 * Datasets that enrol during the round do not lower its q after the fact. A no-op for other
 * populations and for jobs without attesters, whose nullifiers are self-attested.
 */
export async function freezeSamplingPopulation(
  store: JobStore,
  job: JobRecord,
  round: number,
): Promise<void> {
  if (job.spec.privacy.population !== "attested" || !job.spec.attesters) return;
  await store.freezeAttestedPopulation(job.jobId, round);
}

/**
 * Sampling rate q_r of each round 1..rounds for the accountant: clientsPerRound out of a
 * population no device can inflate (protocol/job/sampling-population.ts), never the devices
 * registered, which fake joins would raise. (Fixed-size sampling accounted as Poisson with
 * q = K/N is the usual approximation; see rdp-accountant.ts.) An attested population is the
 * count frozen as the round started; a round with none frozen is accounted at q = 1.
 */
export async function samplingRates(
  store: JobStore,
  job: JobRecord,
  rounds: number,
): Promise<number[]> {
  const { spec } = job;
  if (spec.privacy.population !== "attested" || !spec.attesters) {
    return new Array<number>(rounds).fill(samplingPopulation(spec).q);
  }
  const frozen = await store.attestedPopulations(job.jobId);
  return Array.from({ length: rounds }, (_, r) => {
    const count = frozen.get(r + 1);
    return count === undefined ? 1 : samplingPopulation(spec, count).q;
  });
}

export async function epsilonAfterRounds(
  store: JobStore,
  job: JobRecord,
  rounds: number,
): Promise<number> {
  if (job.spec.privacy.noiseMultiplier <= 0) return Number.POSITIVE_INFINITY;
  return composedEpsilon(job.spec, await samplingRates(store, job, rounds));
}

/** ε after `rounds` at sampling rate q; infinite for a job without noise. */
export function privacyEpsilon(spec: JobSpec, q: number, rounds: number): number {
  if (spec.privacy.noiseMultiplier <= 0) return Number.POSITIVE_INFINITY;
  return epsilonAfter({
    q,
    noiseMultiplier: spec.privacy.noiseMultiplier,
    rounds,
    delta: spec.privacy.delta,
  }).epsilon;
}

/** ε after one round per entry of `rates`: RDP adds up over rounds whatever each one's q. */
export function composedEpsilon(spec: JobSpec, rates: readonly number[]): number {
  if (spec.privacy.noiseMultiplier <= 0) return Number.POSITIVE_INFINITY;
  const steps = new Map<number, number>();
  for (const q of rates) steps.set(q, (steps.get(q) ?? 0) + 1);
  const rdp = DEFAULT_RDP_ORDERS.map(() => 0);
  for (const [q, count] of steps) {
    computeRdp({ q, noiseMultiplier: spec.privacy.noiseMultiplier, steps: count }).forEach(
      (value, k) => {
        rdp[k]! += value;
      },
    );
  }
  return rdpToEpsilon({ orders: DEFAULT_RDP_ORDERS, rdp, delta: spec.privacy.delta }).epsilon;
}
