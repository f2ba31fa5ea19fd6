import type { JobInfo } from "../../proto/generated/fedproof/v1/JobInfo.js";
import type {
  JobSpec__Output,
  JobSpec as JobSpecMessage,
} from "../../proto/generated/fedproof/v1/JobSpec.js";
import type { RoundSummary } from "../../proto/generated/fedproof/v1/RoundSummary.js";
import type { JobSpec, JobSpecInput } from "../../protocol/job/job-spec.js";
import type { JobRecord, RoundRecord } from "../store/job-store.js";

/** proto3 cannot tell 0 from "not set"; for these fields 0 is never meaningful, so it means "default". */
function unsetIfZero(value: number | undefined | null): number | undefined {
  return value === 0 || value === null || value === undefined ? undefined : value;
}

function unsetIfEmpty(value: string | undefined | null): string | undefined {
  return value ? value : undefined;
}

export function specFromMessage(message: JobSpec__Output | null | undefined): JobSpecInput {
  if (!message) return {} as JobSpecInput;
  const training = message.training;
  const quantization = message.quantization;
  const privacy = message.privacy;
  return {
    name: unsetIfEmpty(message.name),
    model: unsetIfEmpty(message.model) as JobSpecInput["model"],
    schema: message.schema
      ? {
          featureShape: message.schema.featureShape,
          min: message.schema.min,
          max: message.schema.max,
          classes: message.schema.classes,
        }
      : (undefined as unknown as JobSpecInput["schema"]),
    training: training
      ? {
          epochs: unsetIfZero(training.epochs),
          batchSize: unsetIfZero(training.batchSize),
          learningRate: unsetIfZero(training.learningRate),
          proximalMu: unsetIfZero(training.proximalMu),
          holdoutFraction: unsetIfZero(training.holdoutFraction),
        }
      : undefined,
    strategy: message.strategy
      ? {
          name: unsetIfEmpty(message.strategy.name) as NonNullable<
            JobSpecInput["strategy"]
          >["name"],
          params: message.strategy.params ?? {},
        }
      : undefined,
    rounds: unsetIfZero(message.rounds),
    clientsPerRound: unsetIfZero(message.clientsPerRound),
    minClients: unsetIfZero(message.minClients),
    minAvailableClients: unsetIfZero(message.minAvailableClients),
    overSelection: unsetIfZero(message.overSelection),
    roundDeadlineSeconds: unsetIfZero(message.roundDeadlineSeconds),
    clipNorm: unsetIfZero(message.clipNorm),
    quantization: quantization
      ? {
          bits: unsetIfZero(quantization.bits),
          scale: unsetIfZero(quantization.scale),
          stochastic: quantization.stochastic || undefined,
        }
      : undefined,
    privacy: privacy
      ? {
          noiseMultiplier: unsetIfZero(privacy.noiseMultiplier),
          delta: unsetIfZero(privacy.delta),
          epsilonBudget: unsetIfZero(privacy.epsilonBudget),
          adaptiveClipQuantile: unsetIfZero(privacy.adaptiveClipQuantile),
        }
      : undefined,
    minSamples: unsetIfZero(message.minSamples),
    seed: unsetIfZero(Number(message.seed)),
    enrolmentTimeoutSeconds: unsetIfZero(message.enrolmentTimeoutSeconds),
    proofs: message.proofs || undefined,
  };
}

export function specToMessage(spec: JobSpec | JobSpecInput): JobSpecMessage {
  return {
    ...spec,
    seed: spec.seed === undefined ? undefined : String(spec.seed),
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
  };
}
