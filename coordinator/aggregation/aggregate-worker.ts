import { randomBytes } from "node:crypto";
import { type ConnectionOptions, type Job, UnrecoverableError, Worker } from "bullmq";
import type { Logger } from "pino";
import { failpoint } from "../../common/failpoints.js";
import { type JobSpec, strategySpecOf } from "../../protocol/job/job-spec.js";
import { decodeModel, encodeModel } from "../../protocol/model/weights.js";
import { createRng } from "../../protocol/random.js";
import { decodeUpdate, dequantize, maxQuantized } from "../../protocol/update/quantize.js";
import { FedproofError } from "../errors.js";
import { adaptClipNorm, updateNoiseMultiplier } from "../privacy/adaptive-clipping.js";
import { epsilonAfter } from "../privacy/rdp-accountant.js";
import type { ArtifactStore } from "../store/artifact-store.js";
import type { JobRecord, JobStore } from "../store/job-store.js";
import {
  type AggregateJobData,
  type AggregateJobResult,
  bullPrefix,
  lockSettings,
  QUEUE_NAMES,
} from "../workers/queues.js";
import { createStrategy } from "./create-strategy.js";
import { decodeStrategyState, encodeStrategyState } from "./strategy-state-codec.js";
import type { ClientUpdate } from "./types.js";

export interface AggregateDependencies {
  store: JobStore;
  artifacts: ArtifactStore;
  logger: Logger;
}

/**
 * Folds a closed round's verified updates into the next global model with the job's
 * strategy, adding central DP noise when the job asks for it. Idempotent: the inputs are
 * fixed once the round left OPEN, outputs are stored by content hash, and the round's
 * state is left to the round engine, so a worker killed half-way leaves nothing a retry
 * could trip over.
 */
export async function aggregateRound(
  dependencies: AggregateDependencies,
  data: AggregateJobData,
): Promise<AggregateJobResult> {
  const { store, artifacts, logger } = dependencies;
  const job = await store.getJob(data.jobId);
  const round = await store.getRound(data.jobId, data.round);
  if (round.state !== "AGGREGATING") {
    if (round.modelHash) {
      return {
        jobId: data.jobId,
        round: data.round,
        modelHash: round.modelHash,
        contributors: round.accepted,
        strategyStateHash: job.strategyStateHash,
        epsilon: round.epsilon,
        nextClipNorm: round.clipNorm,
      };
    }
    throw new UnrecoverableError(
      `round ${data.round} of job ${data.jobId} is ${round.state}, not AGGREGATING`,
    );
  }
  const contributions = await store.contributions(data.jobId, data.round);
  if (contributions.length === 0) {
    throw new UnrecoverableError(
      `round ${data.round} of job ${data.jobId} has no verified updates`,
    );
  }
  const global = decodeModel(await artifacts.get(round.globalModelHash), job.paramCount);
  const updates: ClientUpdate[] = [];
  for (const contribution of contributions) {
    const q = decodeUpdate(
      await artifacts.get(contribution.updateHash),
      contribution.bits,
      job.paramCount,
    );
    updates.push({
      deviceId: contribution.deviceId,
      delta: dequantize(q, job.spec.quantization.scale),
      weight: contribution.samples,
    });
  }
  const state = job.strategyStateHash
    ? decodeStrategyState(await artifacts.get(job.strategyStateHash))
    : undefined;
  await failpoint("aggregate-after-load");

  const { spec } = job;
  const privacy = spec.privacy;
  const dp = privacy.noiseMultiplier > 0;
  // DP noise must be unpredictable: seeded from the OS, never from the job seed.
  const noiseRng = createRng(randomBytes(4).readUInt32LE(0));
  const clipNorm = round.clipNorm || spec.clipNorm;
  const adaptive = privacy.adaptiveClipQuantile > 0;
  const countNoiseStddev = dp ? spec.clientsPerRound / 20 : 0;

  let result: ReturnType<ReturnType<typeof createStrategy>["aggregate"]>;
  try {
    const strategy = createStrategy(strategySpecOf(spec));
    result = strategy.aggregate({
      global,
      updates,
      state,
      round: data.round,
      privacy: dp
        ? {
            clipNorm,
            // With adaptive clipping part of the budget goes to the noised clipped-count.
            noiseMultiplier: adaptive
              ? updateNoiseMultiplier({
                  noiseMultiplier: privacy.noiseMultiplier,
                  countNoiseStddev,
                })
              : privacy.noiseMultiplier,
            rng: noiseRng,
            // Fixed denominator (McMahan et al. 2018): the expected number per round.
            denominator: spec.clientsPerRound,
          }
        : undefined,
    });
  } catch (error) {
    // Bad inputs or parameters will be just as bad on the next attempt.
    if (
      error instanceof FedproofError &&
      error.code !== "INTERNAL" &&
      error.code !== "UNAVAILABLE"
    ) {
      throw new UnrecoverableError(error.shortMessage);
    }
    throw error;
  }

  let nextClipNorm = clipNorm;
  if (adaptive) {
    nextClipNorm = adaptClipNorm({
      clipNorm,
      belowClip: contributions.map((c) => c.metrics.updateNorm <= clipNorm),
      targetQuantile: privacy.adaptiveClipQuantile,
      countNoiseStddev,
      denominator: spec.clientsPerRound,
      rng: noiseRng,
    }).clipNorm;
    // C may not outgrow what the job's fixed-point range can carry without saturating.
    nextClipNorm = Math.min(
      nextClipNorm,
      spec.quantization.scale * maxQuantized(spec.quantization.bits),
    );
  }

  const { hash } = await artifacts.put(encodeModel(result.model));
  const strategyStateHash = result.state
    ? (await artifacts.put(encodeStrategyState(result.state))).hash
    : "";
  const epsilon = dp ? await epsilonAfterRounds(store, job, data.round) : 0;
  await store.redis.hset(store.keys.models, hash, data.jobId);
  await store.updateRound(data.jobId, data.round, { modelHash: hash, epsilon });
  logger.info(
    {
      jobId: data.jobId,
      round: data.round,
      modelHash: hash,
      contributors: updates.length,
      strategy: spec.strategy.name,
      epsilon,
    },
    "round aggregated",
  );
  return {
    jobId: data.jobId,
    round: data.round,
    modelHash: hash,
    contributors: updates.length,
    strategyStateHash,
    epsilon,
    nextClipNorm,
  };
}

/**
 * Sampling rate q for the accountant: each round samples clientsPerRound of the devices
 * registered for the job. (Fixed-size sampling accounted as Poisson with q = K/N is the
 * usual approximation; see coordinator/privacy/rdp-accountant.ts.)
 */
export async function samplingRate(store: JobStore, job: JobRecord): Promise<number> {
  const population = await store.redis.hlen(store.keys.devices(job.jobId));
  return Math.min(1, job.spec.clientsPerRound / Math.max(1, population));
}

export async function epsilonAfterRounds(
  store: JobStore,
  job: JobRecord,
  rounds: number,
): Promise<number> {
  return privacyEpsilon(job.spec, await samplingRate(store, job), rounds);
}

export function privacyEpsilon(spec: JobSpec, q: number, rounds: number): number {
  if (spec.privacy.noiseMultiplier <= 0) return Number.POSITIVE_INFINITY;
  return epsilonAfter({
    q,
    noiseMultiplier: spec.privacy.noiseMultiplier,
    rounds,
    delta: spec.privacy.delta,
  }).epsilon;
}

export interface StartAggregateWorkerParameters extends AggregateDependencies {
  connection: ConnectionOptions;
  prefix: string;
  lockDurationMs?: number;
  stalledIntervalMs?: number;
}

export function startAggregateWorker(
  parameters: StartAggregateWorkerParameters,
): Worker<AggregateJobData, AggregateJobResult> {
  return new Worker<AggregateJobData, AggregateJobResult>(
    QUEUE_NAMES.aggregate,
    (job: Job<AggregateJobData, AggregateJobResult>) => aggregateRound(parameters, job.data),
    {
      connection: parameters.connection,
      prefix: bullPrefix(parameters.prefix),
      concurrency: 1,
      ...lockSettings(parameters.lockDurationMs, parameters.stalledIntervalMs),
    },
  );
}
