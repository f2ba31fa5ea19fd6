import { type ConnectionOptions, QueueEvents } from "bullmq";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { JobEvent } from "../../proto/generated/fedproof/v1/JobEvent.js";
import { strategySpecOf } from "../../protocol/job/job-spec.js";
import { createStrategy } from "../aggregation/create-strategy.js";
import {
  ANCHOR_QUEUE_NAME,
  type AnchorJobResult,
  type AnchorQueue,
  enqueueAnchor,
} from "../chain/anchor-queue.js";
import { InvalidTransitionError } from "../errors.js";
import { epsilonAfterRounds } from "../privacy/job-epsilon.js";
import type { JobRecord, JobStore, RoundRecord } from "../store/job-store.js";
import {
  type AggregateJobResult,
  aggregateJobId,
  bullPrefix,
  parseAggregateJobId,
  QUEUE_NAMES,
  type Queues,
  type VerifyJobResult,
} from "../workers/queues.js";
import { publishDeviceEvent } from "./device-events.js";
import { isTerminalJobState, type JobState } from "./round-states.js";
import { selectClients } from "./select-clients.js";

export interface RoundEngineParameters {
  store: JobStore;
  queues: Queues;
  connection: ConnectionOptions;
  prefix: string;
  publisher: Redis;
  logger: Logger;
  /** Attempts BullMQ makes at aggregating a round before the round fails. */
  aggregateAttempts?: number;
  /** When the coordinator anchors on a chain: completed rounds are queued here. */
  anchorQueue?: AnchorQueue;
}

export type JobEventType =
  | "job-created"
  | "round-started"
  | "round-closed"
  | "round-completed"
  | "round-failed"
  | "job-completed"
  | "job-failed"
  | "job-cancelled"
  | "round-anchored"
  | "contribution";

/**
 * The round engine is the only code that moves jobs and rounds between states. It reacts
 * to what happens (a job created, a device online, a verify or aggregate job finished in
 * any worker process, a deadline passed) and every move goes through the store's
 * table-checked compare-and-set, so several engines on one Redis cannot both move a round.
 */
export class RoundEngine {
  private readonly store: JobStore;
  private readonly queues: Queues;
  private readonly logger: Logger;
  private readonly publisher: Redis;
  private readonly verifyEvents: QueueEvents;
  private readonly aggregateEvents: QueueEvents;
  private readonly anchorQueue?: AnchorQueue;
  private readonly anchorEvents?: QueueEvents;
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly chains = new Map<string, Promise<void>>();
  private readonly aggregateAttempts: number;
  private stopped = false;

  constructor(parameters: RoundEngineParameters) {
    this.store = parameters.store;
    this.queues = parameters.queues;
    this.logger = parameters.logger.child({ component: "round-engine" });
    this.publisher = parameters.publisher;
    this.aggregateAttempts = parameters.aggregateAttempts ?? 5;
    const options = { connection: parameters.connection, prefix: bullPrefix(parameters.prefix) };
    this.verifyEvents = new QueueEvents(QUEUE_NAMES.verify, options);
    this.aggregateEvents = new QueueEvents(QUEUE_NAMES.aggregate, options);
    this.anchorQueue = parameters.anchorQueue;
    if (this.anchorQueue) this.anchorEvents = new QueueEvents(ANCHOR_QUEUE_NAME, options);
  }

  async start(): Promise<void> {
    this.verifyEvents.on("completed", ({ returnvalue }) => {
      const result = parseReturnValue<VerifyJobResult>(returnvalue);
      if (result?.accepted) {
        this.serial(result.jobId, () => this.onVerified(result));
      }
    });
    this.aggregateEvents.on("completed", ({ returnvalue }) => {
      const result = parseReturnValue<AggregateJobResult>(returnvalue);
      if (result) this.serial(result.jobId, () => this.onAggregated(result));
    });
    this.aggregateEvents.on("failed", ({ jobId, failedReason }) => {
      const ids = parseAggregateJobId(jobId);
      if (ids)
        this.serial(ids.jobId, () =>
          this.onAggregateFailed(ids.jobId, ids.round, jobId, failedReason),
        );
    });
    this.anchorEvents?.on("completed", ({ returnvalue }) => {
      const result = parseReturnValue<AnchorJobResult>(returnvalue);
      if (result) this.serial(result.jobId, () => this.onAnchored(result));
    });
    await Promise.all([
      this.verifyEvents.waitUntilReady(),
      this.aggregateEvents.waitUntilReady(),
      this.anchorEvents?.waitUntilReady(),
    ]);
    await this.resume();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    await Promise.allSettled([...this.chains.values()]);
    await Promise.all([
      this.verifyEvents.close(),
      this.aggregateEvents.close(),
      this.anchorEvents?.close(),
    ]);
  }

  onJobCreated(jobId: string): Promise<void> {
    return this.serial(jobId, () => this.tryStartRound(jobId));
  }

  onDeviceOnline(jobId: string): Promise<void> {
    return this.serial(jobId, () => this.tryStartRound(jobId));
  }

  cancelJob(jobId: string, reason: string): Promise<void> {
    return this.serial(jobId, async () => {
      const job = await this.store.getJob(jobId);
      if (isTerminalJobState(job.state)) return;
      const round =
        job.currentRound > 0 ? await this.store.findRound(jobId, job.currentRound) : undefined;
      if (round && (round.state === "OPEN" || round.state === "AGGREGATING")) {
        await this.store.transitionRound(jobId, round.round, round.state, "CANCELLED", {
          reason,
          closedAtMs: Date.now(),
        });
      }
      await this.endJob(job, "CANCELLED", reason);
    });
  }

  /** Picks up where a previous engine left off: deadlines, waiting jobs, pending aggregations. */
  private async resume(): Promise<void> {
    for (const jobId of await this.store.listJobIds(10_000)) {
      const job = await this.store.findJob(jobId);
      if (!job) continue;
      // Anchoring outlives the job: completed rounds not yet anchored are queued again
      // (a no-op for those already queued or done).
      if (job.chainJobId && this.anchorQueue) {
        for (const round of await this.store.listRounds(jobId, job.currentRound)) {
          if (round.state === "COMPLETED") await this.enqueueAnchor(job, round.round);
        }
      }
      if (isTerminalJobState(job.state)) continue;
      if (job.state === "WAITING") {
        this.serial(jobId, () => this.tryStartRound(jobId));
        continue;
      }
      const round = await this.store.findRound(jobId, job.currentRound);
      if (round?.state === "OPEN") this.armDeadline(jobId, round);
      if (round?.state === "AGGREGATING") await this.enqueueAggregation(jobId, round.round);
    }
  }

  private async tryStartRound(jobId: string): Promise<void> {
    const job = await this.store.getJob(jobId);
    if (job.state !== "WAITING") return;
    // A device excluded from the job (its data proof failed) is never selected again, and does
    // not count towards the devices a round waits for.
    const excluded = new Set(await this.store.excludedDevices(jobId));
    const online = (await this.store.onlineDevices(jobId)).filter((id) => !excluded.has(id));
    const { spec } = job;
    if (online.length < spec.minAvailableClients) {
      this.armEnrolmentTimeout(job, online.length);
      return;
    }
    this.clearTimer(`enrol:${jobId}`);
    const roundNumber = job.currentRound + 1;
    const budgetStop = await this.privacyBudgetStop(job, roundNumber);
    if (budgetStop) {
      await this.endJob(job, roundNumber > 1 ? "COMPLETED" : "FAILED", budgetStop);
      return;
    }
    const selected = selectClients({
      online,
      clientsPerRound: spec.clientsPerRound,
      overSelection: spec.overSelection,
      seed: spec.seed,
      round: roundNumber,
    });
    try {
      await this.store.transitionJob(jobId, "WAITING", "RUNNING");
    } catch (error) {
      if (error instanceof InvalidTransitionError) return; // another engine started it
      throw error;
    }
    const now = Date.now();
    const deadlineMs = now + spec.roundDeadlineSeconds * 1000;
    const clipNorm = job.currentClipNorm || spec.clipNorm;
    const clientConfig = createStrategy(strategySpecOf(spec)).clientConfig(roundNumber);
    // Revealed only now, with the devices already picked and every dataset frozen at enrolment:
    // before this, nobody but the coordinator can tell which records the round will open.
    const challengeSeed = (await this.store.challengeSeed(jobId, spec.rounds, roundNumber)) ?? "";
    const round: RoundRecord = {
      round: roundNumber,
      state: "OPEN",
      globalModelHash: job.currentModelHash,
      modelHash: "",
      selected: selected.length,
      accepted: 0,
      rejected: 0,
      late: 0,
      target: Math.min(spec.clientsPerRound, selected.length),
      minClients: spec.minClients,
      startedAtMs: now,
      deadlineMs,
      closedAtMs: 0,
      reason: "",
      epsilon: 0,
      anchorTx: "",
      contributionsRoot: "",
      clipNorm,
      challengeSeed,
    };
    await this.store.createRound(jobId, round, selected);
    this.armDeadline(jobId, round);
    await Promise.all(
      selected.map((deviceId) =>
        publishDeviceEvent({ store: this.store, publisher: this.publisher }, jobId, deviceId, {
          task: {
            jobId,
            round: roundNumber,
            globalModelHash: job.currentModelHash,
            training: {
              ...spec.training,
              proximalMu: clientConfig.proximalMu ?? spec.training.proximalMu,
            },
            quantization: spec.quantization,
            clipNorm: round.clipNorm,
            deadlineUnixMs: String(deadlineMs),
            circuitId: "",
            paramCount: String(job.paramCount),
            model: spec.model,
            challengeSeed,
          },
        }),
      ),
    );
    this.logger.info(
      { jobId, round: roundNumber, selected: selected.length, online: online.length },
      "round started",
    );
    await this.emit(
      jobId,
      "round-started",
      roundNumber,
      `round ${roundNumber} started with ${selected.length} devices`,
    );
  }

  /**
   * The privacy ledger's veto: a round that would push ε past the job's budget never
   * starts. Returns the reason to stop, or undefined when the round may run.
   */
  private async privacyBudgetStop(
    job: JobRecord,
    roundNumber: number,
  ): Promise<string | undefined> {
    const { privacy } = job.spec;
    if (privacy.noiseMultiplier <= 0 || privacy.epsilonBudget <= 0) return undefined;
    const epsilon = await epsilonAfterRounds(this.store, job, roundNumber);
    if (epsilon <= privacy.epsilonBudget) return undefined;
    return `privacy budget: round ${roundNumber} would raise ε to ${epsilon.toFixed(3)} (δ = ${privacy.delta}), above the budget ${privacy.epsilonBudget}; stopped after ${roundNumber - 1} rounds`;
  }

  private async onVerified(result: VerifyJobResult): Promise<void> {
    const round = await this.store.findRound(result.jobId, result.round);
    if (round?.state !== "OPEN") return;
    await this.emit(
      result.jobId,
      "contribution",
      result.round,
      `update from ${result.deviceId} verified`,
    );
    if (round.accepted >= round.target)
      await this.closeRound(result.jobId, round, "enough verified updates");
  }

  private async onDeadline(jobId: string, roundNumber: number): Promise<void> {
    const round = await this.store.findRound(jobId, roundNumber);
    if (round?.state === "OPEN") await this.closeRound(jobId, round, "deadline passed");
  }

  private async closeRound(jobId: string, round: RoundRecord, why: string): Promise<void> {
    this.clearTimer(`deadline:${jobId}:${round.round}`);
    const closedAtMs = Date.now();
    if (round.accepted >= round.minClients) {
      try {
        await this.store.transitionRound(jobId, round.round, "OPEN", "AGGREGATING", { closedAtMs });
      } catch (error) {
        if (error instanceof InvalidTransitionError) return;
        throw error;
      }
      await this.enqueueAggregation(jobId, round.round);
      await this.emit(
        jobId,
        "round-closed",
        round.round,
        `round ${round.round} closed (${why}) with ${round.accepted} verified updates`,
      );
      return;
    }
    const reason = `round ${round.round} ${why} with ${round.accepted} verified updates, fewer than minClients ${round.minClients}`;
    try {
      await this.store.transitionRound(jobId, round.round, "OPEN", "FAILED", {
        closedAtMs,
        reason,
      });
    } catch (error) {
      if (error instanceof InvalidTransitionError) return;
      throw error;
    }
    await this.emit(jobId, "round-failed", round.round, reason);
    await this.endJob(await this.store.getJob(jobId), "FAILED", reason);
  }

  private async enqueueAggregation(jobId: string, round: number): Promise<void> {
    await this.queues.aggregate.add(
      "aggregate",
      { jobId, round },
      {
        jobId: aggregateJobId(jobId, round),
        attempts: this.aggregateAttempts,
        backoff: { type: "exponential", delay: 1000 },
        removeOnComplete: { age: 24 * 3600 },
        removeOnFail: { age: 7 * 24 * 3600 },
      },
    );
  }

  private async onAggregated(result: AggregateJobResult): Promise<void> {
    const round = await this.store.findRound(result.jobId, result.round);
    if (round?.state !== "AGGREGATING") return;
    await this.store.transitionRound(result.jobId, result.round, "AGGREGATING", "COMPLETED", {
      modelHash: result.modelHash,
      epsilon: result.epsilon,
    });
    await this.store.updateJob(result.jobId, {
      currentModelHash: result.modelHash,
      strategyStateHash: result.strategyStateHash,
      currentClipNorm: result.nextClipNorm,
    });
    await this.emit(
      result.jobId,
      "round-completed",
      result.round,
      `round ${result.round} completed: model ${result.modelHash.slice(0, 12)}…`,
    );
    const job = await this.store.getJob(result.jobId);
    await this.enqueueAnchor(job, result.round);
    if (result.round >= job.spec.rounds) {
      await this.endJob(job, "COMPLETED", `all ${job.spec.rounds} rounds completed`);
      return;
    }
    await this.store.transitionJob(result.jobId, "RUNNING", "WAITING");
    await this.tryStartRound(result.jobId);
  }

  private async enqueueAnchor(job: JobRecord, round: number): Promise<void> {
    if (!this.anchorQueue || !job.chainJobId) return;
    await enqueueAnchor(this.anchorQueue, { jobId: job.jobId, round, chainJobId: job.chainJobId });
  }

  /** A round is ANCHORED only once its transaction has a receipt: the anchor job's result. */
  private async onAnchored(result: AnchorJobResult): Promise<void> {
    const round = await this.store.findRound(result.jobId, result.round);
    if (round?.state !== "COMPLETED") return;
    await this.store.transitionRound(result.jobId, result.round, "COMPLETED", "ANCHORED", {
      anchorTx: result.txHash,
      contributionsRoot: result.contributionsRoot,
    });
    await this.emit(
      result.jobId,
      "round-anchored",
      result.round,
      `round ${result.round} anchored in tx ${result.txHash}`,
    );
  }

  private async onAggregateFailed(
    jobId: string,
    roundNumber: number,
    bullJobId: string,
    failedReason: string,
  ) {
    const bullJob = await this.queues.aggregate.getJob(bullJobId);
    const final =
      !bullJob ||
      bullJob.attemptsMade >= (bullJob.opts.attempts ?? 1) ||
      (await bullJob.isFailed());
    if (!final) return;
    const round = await this.store.findRound(jobId, roundNumber);
    if (round?.state !== "AGGREGATING") return;
    const reason = `aggregation of round ${roundNumber} failed: ${failedReason}`;
    await this.store.transitionRound(jobId, roundNumber, "AGGREGATING", "FAILED", { reason });
    await this.emit(jobId, "round-failed", roundNumber, reason);
    await this.endJob(await this.store.getJob(jobId), "FAILED", reason);
  }

  private async endJob(job: JobRecord, to: JobState, reason: string): Promise<void> {
    try {
      await this.store.transitionJob(job.jobId, job.state, to, { reason });
    } catch (error) {
      if (error instanceof InvalidTransitionError) {
        // Another engine (or an earlier event) ended it first.
        this.logger.debug(
          { jobId: job.jobId, to, err: error.shortMessage },
          "job already moved on",
        );
        return;
      }
      throw error;
    }
    this.clearTimer(`enrol:${job.jobId}`);
    const online = await this.store.onlineDevices(job.jobId);
    await Promise.all(
      online.map((deviceId) =>
        publishDeviceEvent({ store: this.store, publisher: this.publisher }, job.jobId, deviceId, {
          ended: { jobId: job.jobId, state: `JOB_STATE_${to}`, reason },
        }),
      ),
    );
    const type =
      to === "COMPLETED" ? "job-completed" : to === "CANCELLED" ? "job-cancelled" : "job-failed";
    this.logger.info({ jobId: job.jobId, state: to, reason }, "job ended");
    await this.emit(job.jobId, type, job.currentRound, reason);
  }

  private armDeadline(jobId: string, round: RoundRecord): void {
    const key = `deadline:${jobId}:${round.round}`;
    this.clearTimer(key);
    const delay = Math.max(0, round.deadlineMs - Date.now());
    this.timers.set(
      key,
      setTimeout(() => {
        this.timers.delete(key);
        this.serial(jobId, () => this.onDeadline(jobId, round.round));
      }, delay),
    );
  }

  private armEnrolmentTimeout(job: JobRecord, online: number): void {
    const key = `enrol:${job.jobId}`;
    if (this.timers.has(key)) return;
    this.logger.info(
      { jobId: job.jobId, online, needed: job.spec.minAvailableClients },
      "waiting for devices",
    );
    this.timers.set(
      key,
      setTimeout(() => {
        this.timers.delete(key);
        this.serial(job.jobId, async () => {
          const current = await this.store.getJob(job.jobId);
          if (current.state !== "WAITING") return;
          const now = (await this.store.onlineDevices(job.jobId)).length;
          if (now >= current.spec.minAvailableClients) return this.tryStartRound(job.jobId);
          await this.endJob(
            current,
            "FAILED",
            `only ${now} of the ${current.spec.minAvailableClients} devices needed were online within ${current.spec.enrolmentTimeoutSeconds} s`,
          );
        });
      }, job.spec.enrolmentTimeoutSeconds * 1000),
    );
  }

  private clearTimer(key: string): void {
    const timer = this.timers.get(key);
    if (timer) clearTimeout(timer);
    this.timers.delete(key);
  }

  private async emit(
    jobId: string,
    type: JobEventType,
    round: number,
    message: string,
  ): Promise<void> {
    const event: JobEvent = { jobId, type, round, message };
    await this.publisher.publish(this.store.keys.jobEvents(jobId), JSON.stringify(event));
  }

  /** One job's reactions run one at a time, in arrival order; different jobs run in parallel. */
  private serial(jobId: string, work: () => Promise<void>): Promise<void> {
    const previous = this.chains.get(jobId) ?? Promise.resolve();
    const next = previous
      .then(() => (this.stopped ? undefined : work()))
      .catch((error: unknown) => {
        this.logger.error({ jobId, err: error }, "round engine step failed");
      });
    this.chains.set(jobId, next);
    void next.then(() => {
      if (this.chains.get(jobId) === next) this.chains.delete(jobId);
    });
    return next;
  }
}

function parseReturnValue<T>(value: unknown): T | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value === "string") {
    try {
      return JSON.parse(value) as T;
    } catch {
      return undefined;
    }
  }
  return value as T;
}
