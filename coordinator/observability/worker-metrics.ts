/**
 * Metrics from this process's BullMQ workers, from their local `completed`/`failed` events
 * (fired only for jobs this process ran), so the verify and anchor workers carry no metrics
 * code: verified and refused updates, the time each verification took, anchoring latency.
 */
import { type Job, Queue, UnrecoverableError, type Worker } from "bullmq";
import type { Logger } from "pino";
import { ANCHOR_QUEUE_NAME, type AnchorJobResult } from "../chain/anchor-queue.js";
import { openBullConnection } from "../store/redis.js";
import {
  bullPrefix,
  QUEUE_NAMES,
  type VerifyJobData,
  type VerifyJobResult,
} from "../workers/queues.js";
import { FedproofMetrics, reasonLabel } from "./metrics.js";
import { type MetricsServer, serveMetrics } from "./metrics-server.js";

// The verify worker names a refused proof's error class in its reason: "proof rejected (X): …".
const PROOF_REJECTION = /^proof rejected \(([A-Za-z]+)\)/;

export function instrumentWorkers(metrics: FedproofMetrics, workers: readonly Worker[]): void {
  for (const worker of workers) {
    if (worker.name === QUEUE_NAMES.verify) instrumentVerifyWorker(metrics, worker);
    if (worker.name === ANCHOR_QUEUE_NAME) instrumentAnchorWorker(metrics, worker);
  }
}

function instrumentVerifyWorker(metrics: FedproofMetrics, worker: Worker): void {
  const observe = (job: Job<VerifyJobData>, outcome: string) => {
    const proofs = (job.data.contribution.proofs?.length ?? 0) > 0 ? "yes" : "no";
    const seconds = ((job.finishedOn ?? Date.now()) - (job.processedOn ?? Date.now())) / 1000;
    metrics.verificationSeconds.observe({ proofs, outcome }, Math.max(0, seconds));
  };
  worker.on("completed", (job: Job<VerifyJobData>, result: VerifyJobResult) => {
    observe(job, result.accepted ? "accepted" : "rejected");
    if (result.accepted) {
      metrics.updatesAccepted.inc();
      return;
    }
    // Not errors but outcomes: the round closed first (-1), or the device had a contribution (-2).
    const reason = result.acceptedCount === -1 ? "RoundClosedError" : "AlreadyExistsError";
    metrics.updatesRejected.inc({ stage: "verify", reason });
  });
  worker.on("failed", (job: Job<VerifyJobData> | undefined, error: Error) => {
    if (!job) return;
    const final =
      error instanceof UnrecoverableError || job.attemptsMade >= (job.opts.attempts ?? 1);
    if (!final) return; // BullMQ retries it; the retry is what counts
    observe(job, error instanceof UnrecoverableError ? "rejected" : "failed");
    const reason =
      error instanceof UnrecoverableError
        ? (PROOF_REJECTION.exec(error.message)?.[1] ?? "ContributionRejectedError")
        : error.name;
    metrics.updatesRejected.inc({ stage: "verify", reason: reasonLabel(reason) });
  });
}

function instrumentAnchorWorker(metrics: FedproofMetrics, worker: Worker): void {
  worker.on("completed", (job: Job, result: AnchorJobResult) => {
    if (result.alreadyAnchored) return; // nothing was sent, so there is no latency to report
    metrics.anchorLatencySeconds.observe(((job.finishedOn ?? Date.now()) - job.timestamp) / 1000);
  });
}

export interface ServeWorkerMetricsParameters {
  workers: readonly Worker[];
  redisUrl: string;
  prefix: string;
  port: number;
  host?: string;
  logger: Logger;
}

/**
 * The metrics of a `fedproof worker` process: its own workers' counts, and the depth of the
 * queues it works on (read through queues of its own, since a worker process has none).
 */
export async function serveWorkerMetrics(
  parameters: ServeWorkerMetricsParameters,
): Promise<MetricsServer> {
  const metrics = new FedproofMetrics();
  instrumentWorkers(metrics, parameters.workers);
  const bull = openBullConnection(parameters.redisUrl);
  const options = {
    connection: bull.connection,
    prefix: bullPrefix(parameters.prefix),
  };
  const queues = parameters.workers.map((worker) => new Queue(worker.name, options));
  metrics.watchQueues(queues);
  const server = await serveMetrics({
    metrics,
    port: parameters.port,
    host: parameters.host,
    logger: parameters.logger,
  });
  return {
    url: server.url,
    async close() {
      await server.close();
      await Promise.all(queues.map((queue) => queue.close()));
      await bull.close();
    },
  };
}
