import type { Worker } from "bullmq";
import type { Logger } from "pino";
import { InvalidArgumentError } from "../../common/errors.js";
import { startAggregateWorker } from "../aggregation/aggregate-worker.js";
import { startAnchorWorker } from "../chain/anchor-worker.js";
import type { ChainConfig } from "../chain/chain-config.js";
import { ArtifactStore } from "../store/artifact-store.js";
import { JobStore } from "../store/job-store.js";
import { connectRedis, openBullConnection, type RedisClient } from "../store/redis.js";
import { startVerifyWorker } from "./verify-worker.js";

export const WORKER_KINDS = ["verify", "aggregate", "anchor"] as const;
export type WorkerKind = (typeof WORKER_KINDS)[number];

export interface StartWorkersParameters {
  redisUrl: string;
  prefix: string;
  storeDir: string;
  kinds: readonly WorkerKind[];
  logger: Logger;
  /** Needed for the anchor worker. */
  chain?: ChainConfig;
  verifyConcurrency?: number;
  /** How long a job's lock lasts; a worker that dies holding it is noticed after about this long. */
  lockDurationMs?: number;
  stalledIntervalMs?: number;
}

export interface RunningWorkers {
  workers: Worker[];
  close(): Promise<void>;
}

/** Verify and aggregate workers: in the coordinator's process, or alone in `fedproof worker`. */
export async function startWorkers(parameters: StartWorkersParameters): Promise<RunningWorkers> {
  const redis: RedisClient = await connectRedis(parameters.redisUrl);
  const store = new JobStore({ redis, prefix: parameters.prefix });
  const artifacts = new ArtifactStore({ root: parameters.storeDir });
  const bull = openBullConnection(parameters.redisUrl);
  const connection = bull.connection;
  const common = {
    store,
    artifacts,
    logger: parameters.logger,
    connection,
    prefix: parameters.prefix,
    lockDurationMs: parameters.lockDurationMs,
    stalledIntervalMs: parameters.stalledIntervalMs,
  };
  const workers: Worker[] = [];
  for (const kind of parameters.kinds) {
    let worker: Worker;
    if (kind === "verify") {
      worker = startVerifyWorker({
        ...common,
        publisher: redis,
        concurrency: parameters.verifyConcurrency,
      });
    } else if (kind === "aggregate") {
      worker = startAggregateWorker(common);
    } else {
      if (!parameters.chain) {
        throw new InvalidArgumentError(
          "the anchor worker needs a chain: --rpc-url, --registry and a key",
        );
      }
      worker = startAnchorWorker({ ...common, chain: parameters.chain });
    }
    worker.on("failed", (job, error) => {
      parameters.logger.warn(
        { queue: kind, job: job?.id, err: error.message },
        "worker job failed",
      );
    });
    worker.on("error", (error) =>
      parameters.logger.error({ queue: kind, err: error }, "worker error"),
    );
    workers.push(worker);
  }
  await Promise.all(workers.map((worker) => worker.waitUntilReady()));
  parameters.logger.info({ kinds: parameters.kinds }, "workers started");
  return {
    workers,
    async close() {
      await Promise.all(workers.map((worker) => worker.close()));
      await bull.close();
      redis.disconnect();
    },
  };
}
