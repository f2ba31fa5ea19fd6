import { type ConnectionOptions, QueueEvents } from "bullmq";
import type { Logger } from "pino";
import type { JobEvent } from "../../proto/generated/fedproof/v1/JobEvent.js";
import type { TaskEvent } from "../../proto/generated/fedproof/v1/TaskEvent.js";
import { strategySpecOf } from "../../protocol/job/job-spec.js";
import { createStrategy } from "../aggregation/create-strategy.js";
import {
  ANCHOR_QUEUE_NAME,
  type AnchorJobResult,
  type AnchorQueue,
  anchorJobId,
  enqueueAnchor,
} from "../chain/anchor-queue.js";
import { InvalidTransitionError } from "../errors.js";
import { epsilonAfterRounds, freezeSamplingPopulation } from "../privacy/job-epsilon.js";
import type { JobRecord, JobStore, RoundRecord } from "../store/job-store.js";
import type { RedisClient } from "../store/redis.js";
import {
  type AggregateJobResult,
  aggregateJobId,
  bullPrefix,
  parseAggregateJobId,
  QUEUE_NAMES,
  type Queues,
  type VerifyJobResult,
} from "../workers/queues.js";
import { publishDeviceEvents } from "./device-events.js";
import { RoundScheduler, type RoundTimer } from "./round-scheduler.js";
import { isTerminalJobState, type JobState } from "./round-states.js";
import { selectClients } from "./select-clients.js";

export interface RoundEngineParameters {
  store: JobStore;
  queues: Queues;
  connection: ConnectionOptions;
  prefix: string;
  publisher: RedisClient;
  logger: Logger;
  /** Attempts BullMQ makes at aggregating a round before the round fails. */
  aggregateAttempts?: number;
  /** When the coordinator anchors on a chain: completed rounds are queued here. */
  anchorQueue?: AnchorQueue;
  /** How often some engine re-reads every unfinished job, whatever happened (default 30 s). */
  sweepIntervalMs?: number;
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
 * A job RUNNING in a round that does not exist yet is normally an engine between its
 * compare-and-set and the round's creation, a few milliseconds; seen for this long, the
 * engine died there and the round is started again.
 */
const ABANDONED_START_MS = 10_000;

/** First pause before re-trying a failed step in-process, when not even a timer can be stored. */
const LOCAL_RETRY_MS = 1_000;

/**
 * The round engine is the only code that moves jobs and rounds between states. It reacts to
 * what happens (a job created, a device online, a verify or aggregate job finished in any
 * worker process, a deadline passed) and every move goes through the store's table-checked
 * compare-and-set, so several engines on one Redis cannot both move a round.
 *
 * No engine owns a round. Deadlines, enrolment timeouts and retries are delayed BullMQ jobs
 * (round-scheduler.ts) that whichever engine is alive takes when they fall due; every handler
 * re-reads the state and acts through compare-and-set, and `reconcile` moves on from any state
 * an engine can leave behind when it dies between two writes. An engine that loses a race has
 * done nothing wrong: another one made the move.
 */
export class RoundEngine {
  private readonly store: JobStore;
  private readonly queues: Queues;
  private readonly logger: Logger;
  private readonly publisher: RedisClient;
  private readonly verifyEvents: QueueEvents;
  private readonly aggregateEvents: QueueEvents;
  private readonly anchorQueue?: AnchorQueue;
  private readonly anchorEvents?: QueueEvents;
  private readonly scheduler: RoundScheduler;
  private readonly chains = new Map<string, Promise<void>>();
  /** In-process retries, only for when Redis refused even the retry timer. */
  private readonly localRetries = new Map<string, { timer?: NodeJS.Timeout; delayMs: number }>();
  /** Jobs seen RUNNING in a round not created yet: when first seen (see ABANDONED_START_MS). */
  private readonly unstarted = new Map<string, { round: number; sinceMs: number }>();
  /** Verified updates not yet looked at, by job: one engine step takes all that arrived. */
  private readonly verified = new Map<string, VerifyJobResult[]>();
  /** Devices that came online and wait for their step to run, by job (onDeviceOnline). */
  private readonly pendingOnline = new Map<string, { devices: Set<string>; step: Promise<void> }>();
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
    this.scheduler = new RoundScheduler({
      connection: parameters.connection,
      prefix: parameters.prefix,
      logger: this.logger,
      handle: (timer) => this.onTimer(timer),
      sweepIntervalMs: parameters.sweepIntervalMs,
    });
  }

  async start(): Promise<void> {
    this.verifyEvents.on("completed", ({ returnvalue }) => {
      const result = parseReturnValue<VerifyJobResult>(returnvalue);
      if (result?.accepted) this.queueVerified(result);
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
    await this.scheduler.start();
    await this.resume();
  }

  async stop(): Promise<void> {
    // First: a timer in hand finishes, the others stay queued for the engines still running.
    await this.scheduler.stopTaking();
    this.stopped = true;
    for (const retry of this.localRetries.values()) clearTimeout(retry.timer);
    this.localRetries.clear();
    // Steps under way still schedule what they started (a new round's deadline).
    await Promise.allSettled([...this.chains.values()]);
    await Promise.all([
      this.scheduler.close(),
      this.verifyEvents.close(),
      this.aggregateEvents.close(),
      this.anchorEvents?.close(),
    ]);
  }

  onJobCreated(jobId: string): Promise<void> {
    return this.serial(jobId, async () => {
      await this.tryStartRound(jobId);
    });
  }

  /**
   * A task stream of `deviceId` opened (on any coordinator). It may be what the job waited
   * for; and a device that reconnects while selected for the open round, with no update
   * uploaded, gets the round's task again: it may have lost it with its last connection.
   */
  onDeviceOnline(jobId: string, deviceId?: string): Promise<void> {
    // Devices that come online while the job's step for them waits its turn join that step:
    // a thousand devices enrolling at once make a few steps, not a thousand in a row.
    const pending = this.pendingOnline.get(jobId);
    if (pending) {
      if (deviceId) pending.devices.add(deviceId);
      return pending.step;
    }
    const devices = new Set<string>(deviceId ? [deviceId] : []);
    const entry = {
      devices,
      step: this.serial(jobId, async () => {
        if (this.pendingOnline.get(jobId) === entry) this.pendingOnline.delete(jobId);
        const started = await this.tryStartRound(jobId);
        if (devices.size > 0 && !started) await this.resendTask(jobId, [...devices]);
      }),
    };
    this.pendingOnline.set(jobId, entry);
    // A step that never ran (the engine stopped) takes no more devices either.
    void entry.step.finally(() => {
      if (this.pendingOnline.get(jobId) === entry) this.pendingOnline.delete(jobId);
    });
    return entry.step;
  }

  cancelJob(jobId: string, reason: string): Promise<void> {
    return this.serial(jobId, async () => {
      // Another engine may move the round under us; read again until the cancel lands.
      for (let attempt = 0; attempt < 5; attempt++) {
        const job = await this.store.getJob(jobId);
        if (isTerminalJobState(job.state)) return;
        const round =
          job.currentRound > 0 ? await this.store.findRound(jobId, job.currentRound) : undefined;
        try {
          if (round && (round.state === "OPEN" || round.state === "AGGREGATING")) {
            await this.store.transitionRound(jobId, round.round, round.state, "CANCELLED", {
              reason,
              closedAtMs: Date.now(),
            });
          }
          await this.endJob(job, "CANCELLED", reason);
          return;
        } catch (error) {
          if (!(error instanceof InvalidTransitionError)) throw error;
        }
      }
    });
  }

  /** Picks up where previous engines left off: every unfinished job, and anchors still owed. */
  private async resume(): Promise<void> {
    const steps: Promise<void>[] = [];
    for (const jobId of await this.store.listJobIds(10_000)) {
      const job = await this.store.findJob(jobId);
      if (!job) continue;
      // Anchoring outlives the job: completed rounds not yet anchored are queued again
      // (a no-op for those already queued or done).
      if (job.chainJobId && this.anchorQueue) {
        for (const round of await this.store.listRounds(jobId, job.currentRound)) {
          if (round.state !== "COMPLETED") continue;
          // An anchor that finished while no engine listened: its completed event is gone, and
          // queueing it again is a no-op (same job id), so apply its result here.
          const anchored = await this.completedAnchor(jobId, round.round);
          if (anchored) await this.serial(jobId, () => this.onAnchored(anchored));
          else await this.enqueueAnchor(job, round.round);
        }
      }
      if (isTerminalJobState(job.state)) continue;
      // The engine that sent the open round's tasks may be gone with the streams it sent
      // them on: send them again (devices ignore a task they already have).
      steps.push(this.serial(jobId, () => this.reconcile(jobId, { resendTasks: true })));
    }
    await Promise.all(steps);
  }

  /**
   * Moves a job on from whatever state it is in: the one place that knows every state an
   * engine can leave behind (it may die between any two writes). Safe to run at any time,
   * in any engine, any number of times: every move is a compare-and-set.
   */
  private async reconcile(jobId: string, options: { resendTasks?: boolean } = {}): Promise<void> {
    const job = await this.store.findJob(jobId);
    if (!job || isTerminalJobState(job.state)) return;
    if (job.state === "WAITING") {
      await this.tryStartRound(jobId);
      return;
    }
    const round =
      job.currentRound > 0 ? await this.store.findRound(jobId, job.currentRound) : undefined;
    if (!round) return this.recoverUnstartedRound(job);
    this.unstarted.delete(jobId);
    switch (round.state) {
      case "OPEN":
        await this.scheduleDeadline(jobId, round);
        if (Date.now() >= round.deadlineMs) return this.closeRound(jobId, round, "deadline passed");
        if (round.accepted >= round.target)
          return this.closeRound(jobId, round, "enough verified updates");
        if (options.resendTasks) await this.resendTasks(job, round);
        return;
      case "AGGREGATING":
        return this.reconcileAggregation(jobId, round);
      case "COMPLETED":
      case "ANCHORED":
        // The round ended and the job never moved on: the engine stopped in between.
        return this.afterRound(job, round);
      case "FAILED":
      case "CANCELLED":
        return this.endJob(
          job,
          round.state,
          round.reason || `round ${round.round} ended ${round.state.toLowerCase()}`,
        );
    }
  }

  /** RUNNING in a round that was never created: wait out a live engine, then start it again. */
  private async recoverUnstartedRound(job: JobRecord): Promise<void> {
    const now = Date.now();
    const seen = this.unstarted.get(job.jobId);
    if (!seen || seen.round !== job.currentRound || now - seen.sinceMs < ABANDONED_START_MS) {
      if (!seen || seen.round !== job.currentRound)
        this.unstarted.set(job.jobId, { round: job.currentRound, sinceMs: now });
      const since = this.unstarted.get(job.jobId)!.sinceMs;
      await this.scheduler.schedule(
        { kind: "retry", jobId: job.jobId, key: `start-${job.currentRound}` },
        since + ABANDONED_START_MS + 500,
      );
      return;
    }
    this.unstarted.delete(job.jobId);
    this.logger.warn(
      { jobId: job.jobId, round: job.currentRound },
      "an engine stopped while starting this round; starting it again",
    );
    await this.store.transitionJobInRound(job.jobId, job.currentRound, "RUNNING", "WAITING", {
      currentRound: Math.max(0, job.currentRound - 1),
    });
    await this.tryStartRound(job.jobId);
  }

  /** Returns whether this call started a round. */
  private async tryStartRound(jobId: string): Promise<boolean> {
    const job = await this.store.getJob(jobId);
    if (job.state !== "WAITING") return false;
    const roundNumber = job.currentRound + 1;
    const { spec } = job;
    // A device online counts once however many task streams it holds: fewer live streams than
    // the devices needed settles it without listing them (every Join of a waiting job asks).
    const streams = await this.store.countOnlineStreams(jobId);
    if (streams < spec.minAvailableClients) {
      await this.scheduleEnrolmentTimeout(job, streams);
      return false;
    }
    // A device excluded from the job (its data proof failed) is never selected again, and does
    // not count towards the devices a round waits for.
    const online = await this.eligibleOnline(jobId);
    if (online.length < spec.minAvailableClients) {
      await this.scheduleEnrolmentTimeout(job, online.length);
      return false;
    }
    const budgetStop = await this.privacyBudgetStop(job, roundNumber);
    if (budgetStop) {
      await this.endJob(job, roundNumber > 1 ? "COMPLETED" : "FAILED", budgetStop);
      return false;
    }
    const selected = selectClients({
      online,
      clientsPerRound: spec.clientsPerRound,
      overSelection: spec.overSelection,
      seed: spec.seed,
      round: roundNumber,
    });
    // The round number moves with the state: an engine that read the job a round ago cannot
    // mistake this round's RUNNING for the one it saw.
    await this.store.transitionJobInRound(jobId, job.currentRound, "WAITING", "RUNNING", {
      currentRound: roundNumber,
    });
    await this.scheduler.cancel({ kind: "enrolment", jobId, round: roundNumber });
    const now = Date.now();
    const deadlineMs = now + spec.roundDeadlineSeconds * 1000;
    const clipNorm = job.currentClipNorm || spec.clipNorm;
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
      aggregateHash: "",
    };
    await this.store.createRound(jobId, round, selected);
    await this.scheduleDeadline(jobId, round);
    await this.publishTo(jobId, selected, taskEventOf(job, round));
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
    return true;
  }

  private async eligibleOnline(jobId: string): Promise<string[]> {
    const excluded = new Set(await this.store.excludedDevices(jobId));
    return (await this.store.onlineDevices(jobId)).filter((id) => !excluded.has(id));
  }

  /** The open round's task again, to those of the devices selected that have not uploaded. */
  private async resendTask(jobId: string, deviceIds: string[]): Promise<void> {
    const job = await this.store.getJob(jobId);
    if (job.state !== "RUNNING" || job.currentRound === 0) return;
    const round = await this.store.findRound(jobId, job.currentRound);
    if (round?.state !== "OPEN" || Date.now() >= round.deadlineMs) return;
    const waiting = await this.store.awaitingUpload(jobId, round.round, deviceIds);
    if (waiting.length === 0) return;
    this.logger.debug({ jobId, round: round.round, devices: waiting }, "task sent again");
    await this.publishTo(jobId, waiting, taskEventOf(job, round));
  }

  private async resendTasks(job: JobRecord, round: RoundRecord): Promise<void> {
    const waiting = await this.store.selectedWithoutSubmission(job.jobId, round.round);
    await this.publishTo(job.jobId, waiting, taskEventOf(job, round));
  }

  /** One event to each of `deviceIds`, encoded once, in one pipeline. */
  private publishTo(jobId: string, deviceIds: readonly string[], event: TaskEvent): Promise<void> {
    return publishDeviceEvents(
      { store: this.store, publisher: this.publisher },
      jobId,
      deviceIds,
      event,
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
    if (privacy.noiseMultiplier <= 0) return undefined;
    // An attested population is counted now, as the round starts, and kept for the round.
    await freezeSamplingPopulation(this.store, job, roundNumber);
    if (privacy.epsilonBudget <= 0) return undefined;
    const epsilon = await epsilonAfterRounds(this.store, job, roundNumber);
    if (epsilon <= privacy.epsilonBudget) return undefined;
    return `privacy budget: round ${roundNumber} would raise ε to ${epsilon.toFixed(3)} (δ = ${privacy.delta}), above the budget ${privacy.epsilonBudget}; stopped after ${roundNumber - 1} rounds`;
  }

  /**
   * Verified updates arrive as fast as the workers verify them, a thousand a round with a large
   * fleet. One step each read the round a thousand times in a row, and the round closed only
   * when the last of those steps ran; now those that arrive while a step waits its turn join
   * it, and those that arrive while it runs make the next one.
   */
  private queueVerified(result: VerifyJobResult): void {
    const pending = this.verified.get(result.jobId);
    if (pending) {
      pending.push(result);
      return;
    }
    this.verified.set(result.jobId, [result]);
    void this.serial(result.jobId, () => this.onVerified(result.jobId));
  }

  private async onVerified(jobId: string): Promise<void> {
    const results = this.verified.get(jobId) ?? [];
    this.verified.delete(jobId);
    for (const roundNumber of new Set(results.map((result) => result.round))) {
      const round = await this.store.findRound(jobId, roundNumber);
      if (round?.state !== "OPEN") continue;
      const messages = results
        .filter((result) => result.round === roundNumber)
        .map((result) => `update from ${result.deviceId} verified`);
      await this.emit(jobId, "contribution", roundNumber, ...messages);
      if (round.accepted >= round.target)
        await this.closeRound(jobId, round, "enough verified updates");
    }
  }

  private async onTimer(timer: RoundTimer): Promise<void> {
    // Thrown back to BullMQ, which hands the timer to an engine still running.
    if (this.stopped) throw new Error("round engine stopping");
    if (timer.kind === "sweep") return this.sweep();
    const step =
      timer.kind === "enrolment"
        ? () => this.onEnrolmentTimeout(timer.jobId, timer.round)
        : () => this.reconcile(timer.jobId);
    try {
      await this.run(timer.jobId, step);
    } catch (error) {
      if (error instanceof InvalidTransitionError) return this.lostRace(timer.jobId, error);
      throw error;
    }
  }

  private async sweep(): Promise<void> {
    for (const jobId of await this.store.listJobIds(10_000)) {
      const job = await this.store.findJob(jobId);
      if (job && !isTerminalJobState(job.state))
        await this.serial(jobId, () => this.reconcile(jobId));
    }
  }

  private async onEnrolmentTimeout(jobId: string, roundNumber: number): Promise<void> {
    const job = await this.store.getJob(jobId);
    if (job.state !== "WAITING" || job.currentRound + 1 !== roundNumber) return;
    const online = (await this.eligibleOnline(jobId)).length;
    if (online >= job.spec.minAvailableClients) {
      await this.tryStartRound(jobId);
      return;
    }
    await this.endJob(
      job,
      "FAILED",
      `only ${online} of the ${job.spec.minAvailableClients} devices needed were online within ${job.spec.enrolmentTimeoutSeconds} s`,
    );
  }

  private async closeRound(jobId: string, round: RoundRecord, why: string): Promise<void> {
    const closedAtMs = Date.now();
    if (round.accepted >= round.minClients) {
      await this.store.transitionRound(jobId, round.round, "OPEN", "AGGREGATING", { closedAtMs });
      await this.scheduler.cancel({ kind: "deadline", jobId, round: round.round });
      await this.enqueueAggregation(jobId, round.round);
      this.logger.info(
        { jobId, round: round.round, accepted: round.accepted, why },
        "round closed",
      );
      await this.emit(
        jobId,
        "round-closed",
        round.round,
        `round ${round.round} closed (${why}) with ${round.accepted} verified updates`,
      );
      return;
    }
    const reason = `round ${round.round} ${why} with ${round.accepted} verified updates, fewer than minClients ${round.minClients}`;
    await this.store.transitionRound(jobId, round.round, "OPEN", "FAILED", {
      closedAtMs,
      reason,
    });
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

  /**
   * An AGGREGATING round whose outcome may have been missed (the engine was down when the
   * worker finished): the BullMQ job still holds it. Without one, the aggregation is queued.
   */
  private async reconcileAggregation(jobId: string, round: RoundRecord): Promise<void> {
    const bullJob = await this.queues.aggregate.getJob(aggregateJobId(jobId, round.round));
    if (!bullJob) return this.enqueueAggregation(jobId, round.round);
    const state = await bullJob.getState();
    if (state === "completed") {
      const result = parseReturnValue<AggregateJobResult>(bullJob.returnvalue);
      if (result) return this.onAggregated(result);
    }
    if (state === "failed") {
      return this.onAggregateFailed(jobId, round.round, String(bullJob.id), bullJob.failedReason);
    }
  }

  private async onAggregated(result: AggregateJobResult): Promise<void> {
    const round = await this.store.findRound(result.jobId, result.round);
    if (round?.state !== "AGGREGATING") return;
    await this.store.transitionRound(result.jobId, result.round, "AGGREGATING", "COMPLETED", {
      modelHash: result.modelHash,
      epsilon: result.epsilon,
    });
    await this.emit(
      result.jobId,
      "round-completed",
      result.round,
      `round ${result.round} completed: model ${result.modelHash.slice(0, 12)}…`,
    );
    const job = await this.store.getJob(result.jobId);
    await this.afterRound(
      job,
      { ...round, state: "COMPLETED", modelHash: result.modelHash, epsilon: result.epsilon },
      result,
    );
  }

  /**
   * What follows a COMPLETED round, each step safe to repeat: the job takes the round's model
   * (unless it already has), the round is queued for anchoring, and the job ends or waits
   * for the next round. `reconcile` calls it too, for a job left RUNNING after its round.
   */
  private async afterRound(
    job: JobRecord,
    round: RoundRecord,
    result?: AggregateJobResult,
  ): Promise<void> {
    if (job.currentRound !== round.round) return;
    if (round.modelHash && job.currentModelHash !== round.modelHash) {
      const outcome = result ?? (await this.aggregateResult(job.jobId, round.round));
      await this.store.updateJob(job.jobId, {
        currentModelHash: round.modelHash,
        ...(outcome
          ? { strategyStateHash: outcome.strategyStateHash, currentClipNorm: outcome.nextClipNorm }
          : {}),
      });
      if (!outcome) {
        this.logger.warn(
          { jobId: job.jobId, round: round.round },
          "aggregation result expired: the next round keeps the previous strategy state and clip bound",
        );
      }
    }
    await this.enqueueAnchor(job, round.round);
    if (round.round >= job.spec.rounds) {
      await this.endJob(job, "COMPLETED", `all ${job.spec.rounds} rounds completed`);
      return;
    }
    await this.store.transitionJobInRound(job.jobId, round.round, "RUNNING", "WAITING");
    await this.tryStartRound(job.jobId);
  }

  private async aggregateResult(
    jobId: string,
    round: number,
  ): Promise<AggregateJobResult | undefined> {
    const bullJob = await this.queues.aggregate.getJob(aggregateJobId(jobId, round));
    return bullJob ? parseReturnValue<AggregateJobResult>(bullJob.returnvalue) : undefined;
  }

  private async completedAnchor(
    jobId: string,
    round: number,
  ): Promise<AnchorJobResult | undefined> {
    const bullJob = await this.anchorQueue?.getJob(anchorJobId(jobId, round));
    if (!bullJob || !(await bullJob.isCompleted())) return undefined;
    return parseReturnValue<AnchorJobResult>(bullJob.returnvalue);
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
    await this.store.transitionJobInRound(job.jobId, job.currentRound, job.state, to, { reason });
    await this.publishTo(job.jobId, await this.store.onlineDevices(job.jobId), {
      ended: { jobId: job.jobId, state: `JOB_STATE_${to}`, reason },
    });
    const type =
      to === "COMPLETED" ? "job-completed" : to === "CANCELLED" ? "job-cancelled" : "job-failed";
    this.logger.info({ jobId: job.jobId, state: to, reason }, "job ended");
    await this.emit(job.jobId, type, job.currentRound, reason);
  }

  private async scheduleDeadline(jobId: string, round: RoundRecord): Promise<void> {
    await this.scheduler.schedule(
      { kind: "deadline", jobId, round: round.round },
      round.deadlineMs,
    );
  }

  /** Counted from the first time the job waited for this round: re-arming keeps that time. */
  private async scheduleEnrolmentTimeout(job: JobRecord, online: number): Promise<void> {
    this.logger.debug(
      { jobId: job.jobId, online, needed: job.spec.minAvailableClients },
      "waiting for devices",
    );
    await this.scheduler.schedule(
      { kind: "enrolment", jobId: job.jobId, round: job.currentRound + 1 },
      Date.now() + job.spec.enrolmentTimeoutSeconds * 1000,
    );
  }

  /** One event of `type` per message, in order, in one pipeline. */
  private async emit(
    jobId: string,
    type: JobEventType,
    round: number,
    ...messages: string[]
  ): Promise<void> {
    const channel = this.store.keys.jobEvents(jobId);
    const encode = (message: string) => {
      const event: JobEvent = { jobId, type, round, message };
      return JSON.stringify(event);
    };
    if (messages.length === 1) {
      await this.publisher.publish(channel, encode(messages[0]!));
      return;
    }
    const pipeline = this.publisher.pipeline();
    for (const message of messages) pipeline.publish(channel, encode(message));
    for (const [error] of (await pipeline.exec()) ?? []) if (error) throw error;
  }

  /**
   * One job's reactions run one at a time in this process, in arrival order; different jobs
   * run in parallel. The promise rejects with the step's error.
   */
  private run(jobId: string, work: () => Promise<void>): Promise<void> {
    const previous = this.chains.get(jobId) ?? Promise.resolve();
    const next = previous.then(() => (this.stopped ? undefined : work()));
    const settled = next.catch(() => undefined);
    this.chains.set(jobId, settled);
    void settled.then(() => {
      if (this.chains.get(jobId) === settled) this.chains.delete(jobId);
    });
    return next;
  }

  /** `run`, with a failed step retried later (by any engine) instead of dropped. */
  private serial(jobId: string, work: () => Promise<void>): Promise<void> {
    return this.run(jobId, work).then(
      () => {
        this.localRetries.delete(jobId);
      },
      (error: unknown) => this.stepFailed(jobId, error),
    );
  }

  private async stepFailed(jobId: string, error: unknown): Promise<void> {
    if (error instanceof InvalidTransitionError) return this.lostRace(jobId, error);
    this.logger.warn({ jobId, err: error }, "round engine step failed; retrying it");
    if (this.stopped) return;
    try {
      await this.scheduler.schedule({ kind: "retry", jobId }, Date.now() + LOCAL_RETRY_MS);
    } catch (scheduleError) {
      // Redis refuses even the timer (it is down): retry from here until it is back.
      this.logger.debug({ jobId, err: scheduleError }, "retry timer not stored; retrying locally");
      this.retryLocally(jobId);
    }
  }

  private retryLocally(jobId: string): void {
    const retry = this.localRetries.get(jobId) ?? { delayMs: LOCAL_RETRY_MS };
    if (retry.timer) return;
    retry.timer = setTimeout(() => {
      retry.timer = undefined;
      retry.delayMs = Math.min(10_000, retry.delayMs * 2);
      void this.serial(jobId, () => this.reconcile(jobId));
    }, retry.delayMs);
    this.localRetries.set(jobId, retry);
  }

  /** A compare-and-set that found the state already moved: by another engine, or an earlier event. */
  private lostRace(jobId: string, error: InvalidTransitionError): void {
    this.logger.debug(
      { jobId, err: error.shortMessage },
      "another engine already moved round or job on",
    );
  }
}

/** The task a round's selected devices get: the same whenever (and however often) it is sent. */
function taskEventOf(job: JobRecord, round: RoundRecord): TaskEvent {
  const { spec } = job;
  const clientConfig = createStrategy(strategySpecOf(spec)).clientConfig(round.round);
  return {
    task: {
      jobId: job.jobId,
      round: round.round,
      globalModelHash: round.globalModelHash,
      training: {
        ...spec.training,
        proximalMu: clientConfig.proximalMu ?? spec.training.proximalMu,
      },
      quantization: spec.quantization,
      clipNorm: round.clipNorm,
      deadlineUnixMs: String(round.deadlineMs),
      circuitId: "",
      paramCount: String(job.paramCount),
      model: spec.model,
      challengeSeed: round.challengeSeed,
    },
  };
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
