/**
 * The BullMQ `anchor` queue: names, job data, and the options every producer must use. The job id
 * is derived from the round, so enqueueing the same round twice adds nothing; the retry settings
 * keep a job alive for days while the RPC endpoint is down (the worker's capped backoff, see
 * anchor-worker.ts), and errors that can never succeed end it at once (UnrecoverableError).
 */
import { type ConnectionOptions, type JobsOptions, Queue } from "bullmq";
import type { Hex } from "viem";
import { bullPrefix } from "../workers/queues.js";

export const ANCHOR_QUEUE_NAME = "anchor";

/** The backoff type the anchor worker's strategy handles: exponential, capped. */
export const ANCHOR_BACKOFF_TYPE = "anchor-capped-exponential";

/** At the default 30 s cap this keeps retrying for about 3.5 days. */
export const DEFAULT_ANCHOR_ATTEMPTS = 10_000;

export interface AnchorJobData {
  jobId: string;
  round: number;
  /** The registry's id for the job (decimal), from `registerJobOnChain`. */
  chainJobId: string;
}

export interface AnchorJobResult {
  jobId: string;
  round: number;
  chainJobId: string;
  /** The anchoring transaction; the round's first anchor when it was anchored before. */
  txHash: Hex;
  blockNumber: number;
  modelHash: Hex;
  parentHash: Hex;
  contributionsRoot: Hex;
  creditsRoot: Hex;
  /** hashPair(contributionsRoot, creditsRoot): what the registry stores. */
  roundRoot: Hex;
  /** The anchored aggregate hash; the zero hash when the strategy is not linear. */
  aggregateHash: Hex;
  contributors: number;
  /** Decimal string: the registry holds 96 bits, more than a JSON number carries exactly. */
  totalCredits: string;
  gasUsed: number;
  /** True when the round was already anchored and this run sent nothing. */
  alreadyAnchored: boolean;
}

export function anchorJobId(jobId: string, round: number): string {
  return `anchor-${jobId}-${round}`;
}

export function parseAnchorJobId(id: string): { jobId: string; round: number } | undefined {
  const match = /^anchor-(.+)-(\d+)$/.exec(id);
  return match ? { jobId: match[1]!, round: Number(match[2]) } : undefined;
}

export interface AnchorJobOptionsParameters {
  attempts?: number;
}

/** The options to add an anchor job with: derived id, many attempts, the capped backoff. */
export function anchorJobOptions(
  data: Pick<AnchorJobData, "jobId" | "round">,
  parameters: AnchorJobOptionsParameters = {},
): JobsOptions {
  return {
    jobId: anchorJobId(data.jobId, data.round),
    attempts: parameters.attempts ?? DEFAULT_ANCHOR_ATTEMPTS,
    backoff: { type: ANCHOR_BACKOFF_TYPE },
    removeOnComplete: { age: 7 * 24 * 3600 },
    removeOnFail: { age: 30 * 24 * 3600 },
  };
}

export interface CreateAnchorQueueParameters {
  connection: ConnectionOptions;
  /** Deployment prefix, as for the other queues (`bullPrefix` is applied here). */
  prefix: string;
}

export type AnchorQueue = Queue<AnchorJobData, AnchorJobResult>;

export function createAnchorQueue(parameters: CreateAnchorQueueParameters): AnchorQueue {
  return new Queue<AnchorJobData, AnchorJobResult>(ANCHOR_QUEUE_NAME, {
    connection: parameters.connection,
    prefix: bullPrefix(parameters.prefix),
  });
}

/** Adds the round's anchor job (a no-op when it is already queued or done). */
export async function enqueueAnchor(
  queue: AnchorQueue,
  data: AnchorJobData,
  parameters: AnchorJobOptionsParameters = {},
): Promise<void> {
  await queue.add("anchor", data, anchorJobOptions(data, parameters));
}
