/**
 * Anchors a completed round on the registry: one transaction per round whatever the number of
 * contributors (the leaves go into two Merkle roots, see round-leaves.ts and merkle.ts), with the
 * round record's `aggregateHash` (the hash of its exact integer aggregate; "" → the zero hash).
 *
 * - Idempotent: `anchorRoundOnce` first reads the round on chain; a round already holding this
 *   anchor returns the existing transaction and sends nothing, a different anchor fails for good.
 *   So a retry after anything (a crash, a chain that stopped with our transaction mined or still
 *   in its pool) anchors at most once: the contract refuses a second anchor of a round, and a
 *   send that loses that race reports the anchor that won. A transaction the node dropped (its
 *   pool does not survive a restart) fails the attempt at once, and the retry sends it again.
 * - Nonce-safe: sends for one key are serialised through a Redis lock keyed by chain and sender
 *   (send-lock.ts), so any number of workers may share the coordinator's key.
 * - Retried while the chain is unreachable: transient failures are thrown plainly and BullMQ
 *   retries them with a capped exponential backoff; failures that would repeat (unknown job,
 *   missing role, a different anchor already in place, malformed data) end the job at once.
 * - The round record gets `anchorTx` and `contributionsRoot` only after the receipt arrived; the
 *   round engine moves the round to ANCHORED on this job's `completed` event.
 */
import { type ConnectionOptions, type Job, UnrecoverableError, Worker } from "bullmq";
import type { Logger } from "pino";
import { zeroHash } from "viem";
import { FedproofError, InvalidArgumentError } from "../../common/errors.js";
import { buildRoundTree, sha256HexToBytes32 } from "../../protocol/provenance/merkle.js";
import { epsilonMicroOf, roundLeaves } from "../../protocol/provenance/round-leaves.js";
import { NotFoundError } from "../errors.js";
import type { JobStore } from "../store/job-store.js";
import { bullPrefix, lockSettings } from "../workers/queues.js";
import {
  ANCHOR_BACKOFF_TYPE,
  ANCHOR_QUEUE_NAME,
  type AnchorJobData,
  type AnchorJobResult,
} from "./anchor-queue.js";
import type { ChainConfig } from "./chain-config.js";
import { createRegistryClient, type RegistryClient } from "./registry-client.js";
import {
  AncestryMismatchError,
  AnchorNotYetVisibleError,
  ChainUnavailableError,
  RegistryError,
  RoundOutOfOrderError,
  TransactionDroppedError,
} from "./registry-errors.js";
import { SendLockTimeoutError } from "./send-lock.js";
import { MissingDeviceRecordError, storedRoundLeafInputs } from "./stored-round-leaves.js";

/** The round cannot be anchored as it stands (not completed, no model, no device record). */
export class AnchorPreconditionError extends FedproofError {
  override name = "AnchorPreconditionError";
  constructor(shortMessage: string) {
    super(shortMessage, { code: "FAILED_PRECONDITION" });
  }
}

export interface AnchorDependencies {
  store: JobStore;
  registry: RegistryClient;
  logger?: Logger;
}

export type AnchorRoundJobReturnType = AnchorJobResult;

export async function anchorRoundJob(
  dependencies: AnchorDependencies,
  data: AnchorJobData,
): Promise<AnchorRoundJobReturnType> {
  const { store, registry } = dependencies;
  const { jobId, round, chainJobId } = data;
  if (!/^[1-9][0-9]*$/.test(chainJobId)) {
    throw new InvalidArgumentError(`chain job id must be a positive integer, got "${chainJobId}"`);
  }
  const job = await store.getJob(jobId);
  const record = await store.getRound(jobId, round);
  if (record.state !== "COMPLETED" && record.state !== "ANCHORED") {
    throw new AnchorPreconditionError(
      `round ${round} of job ${jobId} is ${record.state}: only a completed round is anchored`,
    );
  }
  if (!record.modelHash) {
    throw new AnchorPreconditionError(`round ${round} of job ${jobId} has no model hash`);
  }
  const parent = record.globalModelHash || (round === 1 ? job.initialModelHash : "");
  const modelHash = sha256HexToBytes32(record.modelHash, `model hash of round ${round}`);
  const parentHash = sha256HexToBytes32(parent, `parent model hash of round ${round}`);

  // The aggregation step records the hash of the round's exact integer aggregate for linear
  // strategies; other strategies leave it "", anchored as the zero hash ("not verifiable").
  const aggregateHash =
    record.aggregateHash === ""
      ? zeroHash
      : sha256HexToBytes32(record.aggregateHash, `aggregate hash of round ${round}`);

  const { contributions, credits } = roundLeaves(await storedRoundLeafInputs(store, jobId, round));
  const tree = buildRoundTree({ contributions, credits });
  const anchored = await registry.anchorRoundOnce({
    jobId: BigInt(chainJobId),
    round,
    modelHash,
    parentHash,
    contributionsRoot: tree.contributionsRoot,
    creditsRoot: tree.creditsRoot,
    contributors: tree.contributors,
    totalCredits: tree.totalCredits,
    epsilonMicro: epsilonMicroOf(record.epsilon),
    aggregateHash,
  });
  // Only now, with a receipt in hand, does the round record name its anchor.
  await store.updateRound(jobId, round, {
    anchorTx: anchored.txHash,
    contributionsRoot: tree.contributionsRoot,
  });
  dependencies.logger?.info(
    {
      jobId,
      round,
      chainJobId,
      txHash: anchored.txHash,
      gasUsed: Number(anchored.gasUsed),
      contributors: tree.contributors,
      alreadyAnchored: anchored.alreadyAnchored,
    },
    anchored.alreadyAnchored ? "round was already anchored" : "round anchored",
  );
  return {
    jobId,
    round,
    chainJobId,
    txHash: anchored.txHash,
    blockNumber: Number(anchored.blockNumber),
    modelHash,
    parentHash,
    contributionsRoot: tree.contributionsRoot,
    creditsRoot: tree.creditsRoot,
    roundRoot: tree.roundRoot,
    aggregateHash,
    contributors: tree.contributors,
    totalCredits: tree.totalCredits.toString(),
    gasUsed: Number(anchored.gasUsed),
    alreadyAnchored: anchored.alreadyAnchored,
  };
}

/**
 * Whether retrying can change the outcome. The chain being down, a transaction it dropped, an
 * anchor (this round's or the previous round's) not mined yet, another process holding the key,
 * or anything unknown (nonce races, Redis hiccups):
 * retry. A decoded contract refusal, bad data or a missing round: it would fail the same way.
 */
export function isPermanentAnchorError(error: unknown): boolean {
  if (
    error instanceof ChainUnavailableError ||
    error instanceof TransactionDroppedError ||
    error instanceof AnchorNotYetVisibleError ||
    error instanceof RoundOutOfOrderError ||
    error instanceof SendLockTimeoutError ||
    error instanceof AncestryMismatchError
  ) {
    return false;
  }
  if (error instanceof RegistryError) return error.errorName !== undefined;
  return (
    error instanceof InvalidArgumentError ||
    error instanceof NotFoundError ||
    error instanceof AnchorPreconditionError ||
    error instanceof MissingDeviceRecordError
  );
}

export interface StartAnchorWorkerParameters {
  connection: ConnectionOptions;
  prefix: string;
  store: JobStore;
  chain: ChainConfig;
  logger: Logger;
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  /** Anchor jobs processed at once; sends still go one at a time per key. Default 2. */
  concurrency?: number;
  /** First retry delay; doubles per attempt up to `maxRetryDelayMs`. Default 1 s. */
  retryDelayMs?: number;
  /** Default 30 s. */
  maxRetryDelayMs?: number;
  /** How often to poll for receipts. Default 1 s (viem's 4 s suits public chains). */
  pollingIntervalMs?: number;
}

/** A BullMQ worker on the `anchor` queue; add jobs with `enqueueAnchor` (anchor-queue.ts). */
export function startAnchorWorker(
  parameters: StartAnchorWorkerParameters,
): Worker<AnchorJobData, AnchorJobResult> {
  const { chain, store, logger } = parameters;
  const registry = createRegistryClient({
    rpcUrl: chain.rpcUrl,
    chainId: chain.chainId,
    registry: chain.registry,
    account: chain.privateKey,
    pollingIntervalMs: parameters.pollingIntervalMs,
    sendLock: store.createSendLock({ chainId: chain.chainId }),
  });
  const retryDelayMs = parameters.retryDelayMs ?? 1_000;
  const maxRetryDelayMs = parameters.maxRetryDelayMs ?? 30_000;

  return new Worker<AnchorJobData, AnchorJobResult>(
    ANCHOR_QUEUE_NAME,
    async (job: Job<AnchorJobData, AnchorJobResult>) => {
      try {
        return await anchorRoundJob({ store, registry, logger }, job.data);
      } catch (error) {
        const reason = error instanceof FedproofError ? error.shortMessage : String(error);
        if (isPermanentAnchorError(error)) {
          logger.error({ ...job.data, reason }, "anchor failed for good");
          throw new UnrecoverableError(reason);
        }
        logger.warn({ ...job.data, attempt: job.attemptsMade + 1, reason }, "anchor will retry");
        throw error;
      }
    },
    {
      connection: parameters.connection,
      prefix: bullPrefix(parameters.prefix),
      concurrency: parameters.concurrency ?? 2,
      ...lockSettings(parameters.lockDurationMs, parameters.stalledIntervalMs),
      settings: {
        backoffStrategy: (attemptsMade: number, type?: string) => {
          if (type !== ANCHOR_BACKOFF_TYPE) return 0;
          return Math.min(maxRetryDelayMs, retryDelayMs * 2 ** Math.max(0, attemptsMade - 1));
        },
      },
    },
  );
}
