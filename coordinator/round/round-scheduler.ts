import { type ConnectionOptions, type Job, Queue, Worker } from "bullmq";
import type { Logger } from "pino";
import { bullPrefix } from "../workers/queues.js";

export const ROUND_TIMER_QUEUE = "round-timers";

/**
 * What a round engine must look at again, and when. `deadline`: round `round` of the job may
 * have to close. `enrolment`: the job has waited for devices to start round `round` for the
 * spec's enrolment timeout. `retry`: an engine step failed and the job's state must be
 * re-read and moved on. `sweep` (no job): every unfinished job is looked at again, the
 * backstop for an event no engine received (a Redis restart, a crash between two writes).
 */
export type RoundTimer =
  | { kind: "deadline"; jobId: string; round: number }
  | { kind: "enrolment"; jobId: string; round: number }
  /** `key` tells apart retries that must not stand in for each other (default: a failed step). */
  | { kind: "retry"; jobId: string; key?: string }
  | { kind: "sweep" };

/**
 * The BullMQ id of a timer: one per job, round and kind, so scheduling it again (every engine
 * that resumes, every retried step) adds nothing while it is pending.
 */
export function roundTimerId(timer: RoundTimer): string {
  switch (timer.kind) {
    case "deadline":
    case "enrolment":
      return `${timer.kind}-${timer.jobId}-${timer.round}`;
    case "retry":
      return timer.key ? `retry-${timer.jobId}-${timer.key}` : `retry-${timer.jobId}`;
    case "sweep":
      return "sweep";
  }
}

export interface RoundSchedulerParameters {
  connection: ConnectionOptions;
  /** The deployment prefix; BullMQ keys go under `bullPrefix(prefix)` like every other queue. */
  prefix: string;
  logger: Logger;
  /** Acts on a timer that fell due; a throw makes BullMQ try it again with backoff. */
  handle: (timer: RoundTimer) => Promise<void>;
  /** How often some engine looks at every unfinished job (default 30 s; 0: never). */
  sweepIntervalMs?: number;
}

/** Longest pause between two attempts at a timer whose handling keeps failing. */
const MAX_BACKOFF_MS = 10_000;

/**
 * Round deadlines, enrolment timeouts and retries as delayed BullMQ jobs: they live in Redis,
 * not in the process that armed them, and whichever engine is alive when one falls due takes
 * it (BullMQ hands each to one worker, and re-queues it if that worker dies holding it).
 */
export class RoundScheduler {
  private readonly queue: Queue<RoundTimer>;
  private worker?: Worker<RoundTimer>;
  private readonly parameters: RoundSchedulerParameters;

  constructor(parameters: RoundSchedulerParameters) {
    this.parameters = parameters;
    this.queue = new Queue<RoundTimer>(ROUND_TIMER_QUEUE, {
      connection: parameters.connection,
      prefix: bullPrefix(parameters.prefix),
    });
  }

  async start(): Promise<void> {
    const { logger } = this.parameters;
    this.worker = new Worker<RoundTimer>(
      ROUND_TIMER_QUEUE,
      (job: Job<RoundTimer>) => this.parameters.handle(job.data),
      {
        connection: this.parameters.connection,
        prefix: bullPrefix(this.parameters.prefix),
        concurrency: 8,
        // Handlers are short Redis round trips: a dead engine's timer is taken over soon.
        lockDuration: 10_000,
        settings: {
          backoffStrategy: (attemptsMade: number) =>
            Math.min(MAX_BACKOFF_MS, 250 * 2 ** Math.max(0, attemptsMade - 1)),
        },
      },
    );
    this.worker.on("failed", (job, error) =>
      logger.warn({ timer: job?.data, err: error.message }, "round timer failed; will retry"),
    );
    this.worker.on("error", (error) => logger.warn({ err: error }, "round timer worker error"));
    await Promise.all([this.queue.waitUntilReady(), this.worker.waitUntilReady()]);
    const every = this.parameters.sweepIntervalMs ?? 30_000;
    if (every > 0) {
      await this.queue.upsertJobScheduler(
        "sweep",
        { every },
        {
          name: "sweep",
          data: { kind: "sweep" },
          opts: { removeOnComplete: true, removeOnFail: true },
        },
      );
    }
  }

  /** Due at `atMs` (now if past). A timer with the same id already pending is left as it is. */
  async schedule(timer: RoundTimer, atMs: number): Promise<void> {
    await this.queue.add(timer.kind, timer, {
      jobId: roundTimerId(timer),
      delay: Math.max(0, atMs - Date.now()),
      // Retried until it goes through: a timer that is dropped is a round that never closes.
      attempts: 1_000,
      backoff: { type: "custom" },
      removeOnComplete: true,
      removeOnFail: true,
    });
  }

  /** Drops a pending timer that no longer matters (a round closed early); best effort. */
  async cancel(timer: RoundTimer): Promise<void> {
    await this.queue.remove(roundTimerId(timer)).catch(() => 0);
  }

  /** Stops taking timers (the one in hand finishes); pending ones stay for other engines. */
  async stopTaking(): Promise<void> {
    await this.worker?.close();
  }

  async close(): Promise<void> {
    await this.stopTaking();
    await this.queue.close();
  }
}
