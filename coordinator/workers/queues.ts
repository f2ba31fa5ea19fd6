import { type ConnectionOptions, Queue } from "bullmq";
import type { ContributionRecord } from "../store/job-store.js";

export const QUEUE_NAMES = { verify: "verify", aggregate: "aggregate" } as const;

export interface VerifyJobData {
  contribution: ContributionRecord;
}

export interface VerifyJobResult {
  jobId: string;
  round: number;
  deviceId: string;
  accepted: boolean;
  /** Verified updates in the round after this one, or -1 if the round had closed. */
  acceptedCount: number;
  reason: string;
}

export interface AggregateJobData {
  jobId: string;
  round: number;
}

export interface AggregateJobResult {
  jobId: string;
  round: number;
  modelHash: string;
  contributors: number;
  strategyStateHash: string;
  /** ε spent after this round (0 without DP). */
  epsilon: number;
  /** Clip bound for the next round (changes only with adaptive clipping). */
  nextClipNorm: number;
}

export interface QueueSettings {
  connection: ConnectionOptions;
  /** BullMQ key prefix; one per deployment (and per test). */
  prefix: string;
}

export interface Queues {
  verify: Queue<VerifyJobData, VerifyJobResult>;
  aggregate: Queue<AggregateJobData, AggregateJobResult>;
  close(): Promise<void>;
}

/**
 * BullMQ's key prefix for a deployment: `<prefix>:{<prefix>:bull}`. BullMQ's Lua scripts touch
 * several keys of a queue at once, so on a Redis Cluster a queue's keys must share a hash tag
 * (BullMQ's "Redis Cluster" guide: a prefix in braces). The tag holds the deployment prefix,
 * so two deployments on one cluster land in different slots, and the key still begins with
 * `<prefix>:`, so a SCAN or an ACL pattern on the prefix covers the queues too. A deployment's
 * queues (verify, aggregate, anchor) share that one slot, and so one master: their load is
 * small next to the job state, which spreads by job (store/keys.ts).
 */
export function bullPrefix(prefix: string): string {
  const p = prefix.replace(/:$/, "");
  return `${p}:{${p}:bull}`;
}

export function createQueues(settings: QueueSettings): Queues {
  const options = { connection: settings.connection, prefix: bullPrefix(settings.prefix) };
  const verify = new Queue<VerifyJobData, VerifyJobResult>(QUEUE_NAMES.verify, options);
  const aggregate = new Queue<AggregateJobData, AggregateJobResult>(QUEUE_NAMES.aggregate, options);
  return {
    verify,
    aggregate,
    async close() {
      await Promise.all([verify.close(), aggregate.close()]);
    },
  };
}

/** BullMQ job ids for aggregation are derived from the round, so adding one twice is a no-op. */
export function aggregateJobId(jobId: string, round: number): string {
  return `aggregate-${jobId}-${round}`;
}

export function parseAggregateJobId(id: string): { jobId: string; round: number } | undefined {
  const match = /^aggregate-(.+)-(\d+)$/.exec(id);
  return match ? { jobId: match[1]!, round: Number(match[2]) } : undefined;
}

/** Lock/stall settings with unset values left out: BullMQ treats an explicit undefined as 0. */
export function lockSettings(
  lockDurationMs?: number,
  stalledIntervalMs?: number,
): {
  lockDuration?: number;
  stalledInterval?: number;
} {
  return {
    ...(lockDurationMs === undefined ? {} : { lockDuration: lockDurationMs }),
    ...(stalledIntervalMs === undefined ? {} : { stalledInterval: stalledIntervalMs }),
  };
}
