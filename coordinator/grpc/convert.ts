import type { JobSpec__Output } from "../../proto/generated/fedproof/v1/JobSpec.js";
import type { JobSpecInput } from "../../protocol/job/job-spec.js";

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
          population: populationFromMessage(privacy.population),
        }
      : undefined,
    minSamples: unsetIfZero(message.minSamples),
    maxSamplesPerDevice: unsetIfZero(message.maxSamplesPerDevice),
    seed: unsetIfZero(Number(message.seed)),
    enrolmentTimeoutSeconds: unsetIfZero(message.enrolmentTimeoutSeconds),
    proofs: message.proofs || undefined,
    dataSpotChecks: unsetIfZero(message.dataSpotChecks),
    // Passed on so that the job service can refuse it: the coordinator fills it in.
    challengeCommitment: unsetIfEmpty(message.challengeCommitment),
    attesters: message.attesters?.root
      ? {
          root: message.attesters.root,
          depth: message.attesters.depth,
          ...(message.attesters.keys.length > 0
            ? { keys: message.attesters.keys.map(({ x, y }) => ({ x, y })) }
            : {}),
        }
      : undefined,
  };
}

/** The wire carries the population as text: a mode name or a declared count ("1000"). */
function populationFromMessage(value: string | undefined | null): JobSpecPopulation | undefined {
  if (!value) return undefined;
  return (/^[0-9]{1,15}$/.test(value) ? Number(value) : value) as JobSpecPopulation;
}

type JobSpecPopulation = NonNullable<NonNullable<JobSpecInput["privacy"]>["population"]>;
