import path from "node:path";
import type { Command } from "commander";
import { InvalidArgumentError } from "../../common/errors.js";
import { chainConfigFromFlags } from "../../coordinator/chain/chain-config.js";
import { serveWorkerMetrics } from "../../coordinator/observability/worker-metrics.js";
import {
  startWorkers,
  WORKER_KINDS,
  type WorkerKind,
} from "../../coordinator/workers/start-workers.js";
import { createLogger, emit, reportError } from "../output.js";
import { firstStopSignal } from "../stop-signal.js";
import {
  int,
  metricsOf,
  redisUrlOf,
  withChain,
  withCommon,
  withMetrics,
  withRedis,
} from "./options.js";

/**
 * Past this after SIGTERM, a worker exits anyway: BullMQ hands a job it was still running to
 * another worker once its lock expires.
 */
const WORKER_SHUTDOWN_LIMIT_MS = 60_000;

export function registerWorkerCommand(program: Command): void {
  withMetrics(withChain(withRedis(withCommon(program.command("worker")))))
    .description(
      "run BullMQ workers against the coordinator's Redis; start as many as you like, on any host",
    )
    .option(
      "--queues <list>",
      "queues to work on: verify, aggregate, anchor (anchor needs the chain flags)",
      "verify,aggregate",
    )
    .option("--concurrency <n>", "verify jobs processed at once", int("concurrency", 1), 4)
    .option(
      "--lock-duration <ms>",
      "job lock duration; a dead worker's job is retried after about this long",
      int("lock-duration", 1),
    )
    .option(
      "--stalled-interval <ms>",
      "how often to look for stalled jobs",
      int("stalled-interval", 1),
    )
    .action(async (options) => {
      const logger = createLogger(options);
      const stopSignal = firstStopSignal({
        logger,
        limitMs: WORKER_SHUTDOWN_LIMIT_MS,
        message: "shutting down: closing workers",
      });
      try {
        const kinds = String(options.queues)
          .split(",")
          .map((kind) => kind.trim());
        for (const kind of kinds) {
          if (!(WORKER_KINDS as readonly string[]).includes(kind)) {
            throw new InvalidArgumentError(
              `unknown queue "${kind}": expected ${WORKER_KINDS.join(", ")}`,
            );
          }
        }
        const chain = kinds.includes("anchor") ? await chainConfigFromFlags(options) : undefined;
        const running = await startWorkers({
          chain,
          redisUrl: redisUrlOf(options),
          prefix: options.prefix,
          storeDir: path.resolve(options.store),
          kinds: kinds as WorkerKind[],
          logger,
          verifyConcurrency: options.concurrency,
          lockDurationMs: options.lockDuration,
          stalledIntervalMs: options.stalledInterval,
        });
        const metrics = metricsOf(options);
        const metricsServer = metrics
          ? await serveWorkerMetrics({
              ...metrics,
              workers: running.workers,
              redisUrl: redisUrlOf(options),
              prefix: options.prefix,
              logger,
            })
          : undefined;
        emit(
          options,
          { queues: kinds, pid: process.pid, metricsUrl: metricsServer?.url },
          () =>
            `fedproof worker ${process.pid} on queues ${kinds.join(", ")}${metricsServer ? `; metrics at ${metricsServer.url}` : ""}`,
        );
        void stopSignal.then(async () => {
          await running.close();
          await metricsServer?.close();
          process.exit(0);
        });
      } catch (error) {
        reportError(error, options);
      }
    });
}
