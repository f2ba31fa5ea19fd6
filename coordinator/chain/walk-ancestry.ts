import type { Address, Hex } from "viem";
import { hashPair } from "../../protocol/provenance/merkle.js";
import { AncestryMismatchError, ModelNotAnchoredError } from "./registry-errors.js";
import type { RegistryReads } from "./registry-reads.js";
import type {
  AncestryRound,
  RoundAnchoredEvent,
  WalkAncestryReturnType,
} from "./registry-types.js";

/**
 * Walks a model's ancestry on chain, newest round first, down to the job's initial model. Every
 * link is checked twice: the stored round holds the expected model, and its RoundAnchored event
 * carries roots that hash to the stored round root. The aggregate hash comes from the event
 * alone, which the contract does not store.
 */
export async function walkAncestry(
  reads: RegistryReads,
  registry: Address,
  modelHash: Hex,
): Promise<WalkAncestryReturnType> {
  const location = await reads.roundOfModel(modelHash);
  if (!location) {
    const jobId = await reads.jobOfInitialModel(modelHash);
    const job = jobId === null ? null : await reads.getJob(jobId);
    if (!job) {
      throw new ModelNotAnchoredError(
        `model hash ${modelHash} is not anchored on registry ${registry}`,
      );
    }
    return { job, rounds: [] };
  }

  const job = await reads.getJob(location.jobId);
  if (!job)
    throw new AncestryMismatchError(
      `model ${modelHash} names job ${location.jobId}, which is unknown`,
    );
  // One log query for the whole job instead of one per round.
  const events = new Map<number, RoundAnchoredEvent>();
  for (const event of await reads.getRoundAnchoredEvents({
    jobId: job.jobId,
    fromBlock: job.registeredBlock,
  })) {
    events.set(event.round, event);
  }

  const rounds: AncestryRound[] = [];
  let expected = modelHash.toLowerCase() as Hex;
  for (let round = location.round; round >= 1; round--) {
    const stored = await reads.getRound(job.jobId, round);
    const event = events.get(round);
    if (!stored || stored.modelHash !== expected) {
      throw new AncestryMismatchError(
        `round ${round} of job ${job.jobId} does not hold model ${expected} on chain`,
      );
    }
    if (!event || event.modelHash !== stored.modelHash) {
      throw new AncestryMismatchError(
        `no RoundAnchored event for round ${round} of job ${job.jobId}`,
      );
    }
    if (hashPair(event.contributionsRoot, event.creditsRoot) !== stored.roundRoot) {
      throw new AncestryMismatchError(
        `the roots in round ${round}'s event do not hash to the round root stored for job ${job.jobId}`,
      );
    }
    rounds.push({
      ...stored,
      contributionsRoot: event.contributionsRoot,
      creditsRoot: event.creditsRoot,
      aggregateHash: event.aggregateHash,
      anchorTx: event.txHash,
      anchorBlock: event.blockNumber,
    });
    expected = stored.parentHash;
  }
  if (expected !== job.initialModelHash) {
    throw new AncestryMismatchError(
      `round 1 of job ${job.jobId} builds on ${expected}, not on the job's initial model ${job.initialModelHash}`,
    );
  }
  return { job, rounds };
}
