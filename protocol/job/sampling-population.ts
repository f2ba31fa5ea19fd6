import type { JobSpec } from "./job-spec.js";

/**
 * The population N behind the accountant's sampling rate q = K/N. Amplification by sampling
 * makes ε smaller as N grows, so N must be a number no device can raise for free: counting
 * registered devices would let anyone lower the reported ε by joining under fresh ids.
 *
 * - "none" (the default): q = 1, no amplification; ε is what it would be if every round
 *   saw every device, which holds whoever joins.
 * - a number: the population the operator declares in the spec. It is part of the spec
 *   hash, so it is anchored with the job and the operator answers for it. q counts every
 *   device a round asks, ⌈K · overSelection⌉, not just the K that close it: which of the
 *   asked devices finish first is not random. Amplification also assumes that who was
 *   sampled stays secret; select-clients.ts draws the sample from the public job seed, so
 *   this mode is the operator's claim about the deployment, not one the coordinator backs.
 * - "attested": the distinct datasets signed by the job's attester set (spec.attesters) that
 *   a verified data proof showed, counted by their nullifiers (one per dataset and job, so
 *   fresh device ids add nothing) and frozen as each round starts: N_r for round r. A job
 *   without attesters has no attested datasets, and a round before any was recorded has
 *   N = 0; both are accounted as q = 1, since an ε that errs towards larger is still a true bound.
 */
export interface SamplingPopulationReturnType {
  /** Sampling rate q ∈ (0, 1] the accountant uses. */
  q: number;
  /** How the population was set, for job status, the demo and `fedproof verify`. */
  description: string;
}

export function samplingPopulation(
  spec: Pick<JobSpec, "clientsPerRound" | "overSelection"> & {
    privacy: Pick<JobSpec["privacy"], "population">;
  },
  /** For "attested": the distinct attested datasets as the round started (N_r). */
  attested?: number,
): SamplingPopulationReturnType {
  // Specs stored before the field existed had no population: they get the default.
  const population = spec.privacy.population ?? "none";
  // The same count select-clients.ts asks for.
  const asked = Math.ceil(spec.clientsPerRound * spec.overSelection - 1e-9);
  if (typeof population === "number") {
    const q = Math.min(1, asked / population);
    return { q, description: `declared ${population} (q = ${formatRate(q)})` };
  }
  if (population === "attested") {
    if (attested === undefined || attested <= 0) {
      return {
        q: 1,
        description:
          attested === undefined
            ? "attested datasets, counted as each round starts (no amplification, q = 1, while none is recorded)"
            : "attested, no attested dataset recorded yet: no amplification (q = 1)",
      };
    }
    const q = Math.min(1, asked / attested);
    return { q, description: `attested ${attested} (q = ${formatRate(q)})` };
  }
  return { q: 1, description: "no amplification (q = 1)" };
}

function formatRate(q: number): string {
  return Number(q.toPrecision(4)).toString();
}
