/**
 * The (ε, δ) a job with central DP has spent after a number of rounds. The round engine asks
 * before a round starts (the budget's veto); the aggregate worker records it on the round.
 */
import type { JobSpec } from "../../protocol/job/job-spec.js";
import { samplingPopulation } from "../../protocol/job/sampling-population.js";
import type { JobRecord, JobStore } from "../store/job-store.js";
import { epsilonAfter } from "./rdp-accountant.js";

/**
 * Sampling rate q for the accountant: clientsPerRound out of a population no device can
 * inflate (protocol/job/sampling-population.ts), never the devices registered, which fake
 * joins would raise. (Fixed-size sampling accounted as Poisson with q = K/N is the usual
 * approximation; see rdp-accountant.ts.) The store is where an attested population will
 * be counted.
 */
export async function samplingRate(_store: JobStore, job: JobRecord): Promise<number> {
  return samplingPopulation(job.spec).q;
}

export async function epsilonAfterRounds(
  store: JobStore,
  job: JobRecord,
  rounds: number,
): Promise<number> {
  return privacyEpsilon(job.spec, await samplingRate(store, job), rounds);
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
