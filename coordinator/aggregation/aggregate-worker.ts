import { UnrecoverableError, Worker, type ConnectionOptions, type Job } from "bullmq";
import type { Logger } from "pino";
import { failpoint } from "../../common/failpoints.js";
import { decodeModel, encodeModel } from "../../client/core/model/weights.js";
import { decodeUpdate, dequantize } from "../../client/core/update/quantize.js";
import { FedproofError } from "../errors.js";
import type { ArtifactStore } from "../store/artifact-store.js";
import type { JobStore } from "../store/job-store.js";
import { bullPrefix, lockSettings, QUEUE_NAMES, type AggregateJobData, type AggregateJobResult } from "../workers/queues.js";
import { fedAvg } from "./fed-avg.js";
import type { ClientUpdate } from "./types.js";

export interface AggregateDependencies {
  store: JobStore;
  artifacts: ArtifactStore;
  logger: Logger;
}

/**
 * Folds a closed round's verified updates into the next global model. Idempotent: the
 * inputs are fixed once the round left OPEN, and the output is stored by content hash,
 * so a worker killed half-way leaves nothing behind that a retry could trip over.
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
      };
    }
    throw new UnrecoverableError(`round ${data.round} of job ${data.jobId} is ${round.state}, not AGGREGATING`);
  }
  const contributions = await store.contributions(data.jobId, data.round);
  if (contributions.length === 0) {
    throw new UnrecoverableError(`round ${data.round} of job ${data.jobId} has no verified updates`);
  }
  const global = decodeModel(await artifacts.get(round.globalModelHash), job.paramCount);
  const updates: ClientUpdate[] = [];
  for (const contribution of contributions) {
    const q = decodeUpdate(await artifacts.get(contribution.updateHash), contribution.bits, job.paramCount);
    updates.push({
      deviceId: contribution.deviceId,
      delta: dequantize(q, job.spec.quantization.scale),
      weight: contribution.samples,
    });
  }
  await failpoint("aggregate-after-load");
  let model: Float32Array;
  try {
    const mean = fedAvg(updates);
    model = new Float32Array(global.length);
    for (let i = 0; i < global.length; i++) model[i] = global[i]! + mean[i]!;
  } catch (error) {
    // Bad inputs will be just as bad on the next attempt.
    if (error instanceof FedproofError && error.code === "INVALID_ARGUMENT") {
      throw new UnrecoverableError(error.shortMessage);
    }
    throw error;
  }
  const { hash } = await artifacts.put(encodeModel(model));
  await store.redis.hset(store.keys.models, hash, data.jobId);
  await store.updateRound(data.jobId, data.round, { modelHash: hash });
  logger.info({ jobId: data.jobId, round: data.round, modelHash: hash, contributors: updates.length }, "round aggregated");
  return {
    jobId: data.jobId,
    round: data.round,
    modelHash: hash,
    contributors: updates.length,
    strategyStateHash: job.strategyStateHash,
    epsilon: 0,
  };
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
