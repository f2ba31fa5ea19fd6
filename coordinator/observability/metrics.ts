/**
 * The Prometheus metrics of one fedproof process (a coordinator, or a `fedproof worker`). Each
 * process counts only what it did itself, so the series of several coordinators and workers on
 * one Redis add up: a round is counted by the engine whose compare-and-set moved it, an update by
 * the process that received or verified it. Labels take values from small fixed sets (error
 * class names, queue names, job states), never ids, so the number of series stays bounded.
 */
import {
  Counter,
  collectDefaultMetrics,
  Gauge,
  Histogram,
  type Registry as PromRegistry,
  Registry,
} from "prom-client";

/** The BullMQ job states reported per queue. */
export const QUEUE_STATES = ["waiting", "active", "delayed", "prioritized", "failed"] as const;

/** A queue whose depth is reported: BullMQ's Queue has exactly this. */
export interface QueueDepthSource {
  readonly name: string;
  getJobCounts(...types: (typeof QUEUE_STATES)[number][]): Promise<Record<string, number>>;
}

export type UpdateStage = "upload" | "verify";

export class FedproofMetrics {
  readonly registry: PromRegistry = new Registry();
  readonly roundsStarted: Counter;
  readonly roundsEnded: Counter<"state">;
  readonly updatesReceived: Counter;
  readonly updatesAccepted: Counter;
  readonly updatesRejected: Counter<"stage" | "reason">;
  readonly verificationSeconds: Histogram<"proofs" | "outcome">;
  readonly anchorLatencySeconds: Histogram;
  readonly devicesOnline: Gauge;
  readonly joins: Counter<"result">;
  private readonly queues = new Set<QueueDepthSource>();

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.roundsStarted = new Counter({
      name: "fedproof_rounds_started_total",
      help: "Rounds this process's round engine started (tasks sent to the selected devices)",
      registers,
    });
    this.roundsEnded = new Counter({
      name: "fedproof_rounds_ended_total",
      help: "Rounds this process's round engine ended, by final state (completed, failed, cancelled)",
      labelNames: ["state"],
      registers,
    });
    this.updatesReceived = new Counter({
      name: "fedproof_updates_received_total",
      help: "Update uploads this coordinator answered (SubmitUpdate, CommitUpload), whatever the answer",
      registers,
    });
    this.updatesAccepted = new Counter({
      name: "fedproof_updates_accepted_total",
      help: "Updates this process's verify workers accepted into a round",
      registers,
    });
    this.updatesRejected = new Counter({
      name: "fedproof_updates_rejected_total",
      help: "Updates refused, by stage (upload: by the coordinator before verification; verify: by a verify worker) and reason (the error's class name)",
      labelNames: ["stage", "reason"],
      registers,
    });
    this.verificationSeconds = new Histogram({
      name: "fedproof_update_verification_seconds",
      help: "Time a verify worker spent on one update: its proofs (proofs=yes), the norm check, the record",
      labelNames: ["proofs", "outcome"],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.anchorLatencySeconds = new Histogram({
      name: "fedproof_anchor_latency_seconds",
      help: "From a completed round's anchor job being queued to its transaction's receipt",
      buckets: [0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600],
      registers,
    });
    this.devicesOnline = new Gauge({
      name: "fedproof_devices_online",
      help: "Devices connected to this coordinator (open Tasks streams)",
      registers,
    });
    this.joins = new Counter({
      name: "fedproof_joins_total",
      help: "Join calls this coordinator answered, by result (ok, or the refusal's error class name)",
      labelNames: ["result"],
      registers,
    });
    const queues = this.queues;
    new Gauge({
      name: "fedproof_queue_jobs",
      help: "Jobs in each BullMQ queue by state, read from Redis at scrape time",
      labelNames: ["queue", "state"],
      registers,
      async collect() {
        this.reset();
        await Promise.all(
          [...queues].map(async (queue) => {
            let counts: Record<string, number>;
            try {
              counts = await queue.getJobCounts(...QUEUE_STATES);
            } catch {
              return; // Redis unreachable: no value rather than a stale one
            }
            for (const state of QUEUE_STATES) {
              this.set({ queue: queue.name, state }, counts[state] ?? 0);
            }
          }),
        );
      },
    });
  }

  /** Reports these queues' depths at every scrape. */
  watchQueues(queues: readonly QueueDepthSource[]): void {
    for (const queue of queues) this.queues.add(queue);
  }

  /** The text exposition of every metric, for GET /metrics. */
  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/**
 * An error's class name as a label value. Names come from our code and the libraries'
 * (ProofInvalidError, RoundClosedError, …), a small fixed set; anything that does not look
 * like one is folded into "Other" so no caller-controlled text becomes a series.
 */
export function reasonLabel(name: string | undefined): string {
  return name && /^[A-Za-z][A-Za-z0-9_]{0,63}$/.test(name) ? name : "Other";
}
