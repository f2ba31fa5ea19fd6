/**
 * A job's records as the Jobs API's messages. Kept beside the job service rather than the
 * gRPC handlers because the service builds JobInfo itself and must not import its transport;
 * the handlers, the CLI and the tests import these too.
 */
import type { JobInfo } from "../../proto/generated/fedproof/v1/JobInfo.js";
import type { JobSpec as JobSpecMessage } from "../../proto/generated/fedproof/v1/JobSpec.js";
import type { RoundSummary } from "../../proto/generated/fedproof/v1/RoundSummary.js";
import type { JobSpec, JobSpecInput } from "../../protocol/job/job-spec.js";
import { samplingPopulation } from "../../protocol/job/sampling-population.js";
import type { JobRecord, RoundRecord } from "../store/job-store.js";

export function specToMessage(spec: JobSpec | JobSpecInput): JobSpecMessage {
  const population = spec.privacy?.population;
  return {
    ...spec,
    seed: spec.seed === undefined ? undefined : String(spec.seed),
    ...(spec.privacy && {
      privacy: {
        ...spec.privacy,
        population: population === undefined ? undefined : String(population),
      },
    }),
  } as JobSpecMessage;
}

export function roundToMessage(
  round: RoundRecord,
  rejections: { deviceId: string; reason: string }[] = [],
): RoundSummary {
  return {
    round: round.round,
    state: `ROUND_STATE_${round.state}`,
    globalModelHash: round.globalModelHash,
    modelHash: round.modelHash,
    selected: round.selected,
    accepted: round.accepted,
    rejected: round.rejected,
    late: round.late,
    epsilon: round.epsilon,
    clipNorm: round.clipNorm,
    challengeSeed: round.challengeSeed,
    contributionsRoot: round.contributionsRoot,
    anchorTx: round.anchorTx,
    rejections,
    startedAtMs: String(round.startedAtMs),
    closedAtMs: String(round.closedAtMs),
    reason: round.reason,
  };
}

export function jobToMessage(
  job: JobRecord,
  rounds: RoundSummary[],
  onlineDevices: number,
): JobInfo {
  return {
    jobId: job.jobId,
    spec: specToMessage(job.spec),
    state: `JOB_STATE_${job.state}`,
    reason: job.reason,
    currentRound: job.currentRound,
    initialModelHash: job.initialModelHash,
    currentModelHash: job.currentModelHash,
    rounds,
    onlineDevices,
    specHash: job.specHash,
    createdAtMs: String(job.createdAtMs),
    paramCount: String(job.paramCount),
    registry: job.registry,
    chainJobId: job.chainJobId,
    ...privacyPopulation(job.spec),
  };
}

/** Which population ε is accounted against; empty for a job without central DP. */
function privacyPopulation(spec: JobSpec): Pick<JobInfo, "population" | "samplingRate"> {
  if (spec.privacy.noiseMultiplier <= 0) return { population: "", samplingRate: 0 };
  const { q, description } = samplingPopulation(spec);
  return { population: description, samplingRate: q };
}
