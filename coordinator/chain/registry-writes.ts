import {
  type Address,
  type Chain,
  type PublicClient,
  parseEventLogs,
  type TransactionReceipt,
  type Transport,
  zeroAddress,
  zeroHash,
} from "viem";
import { FedproofError, InvalidArgumentError } from "../../common/errors.js";
import { fedproofRegistryAbi } from "../../contracts/generated/fedproof-registry.js";
import { hashPair } from "../../protocol/provenance/merkle.js";
import { AnchorNotYetVisibleError, RoundAlreadyAnchoredError } from "./registry-errors.js";
import { type RegistryReads, readRegistry } from "./registry-reads.js";
import type { RegistrySend } from "./registry-send.js";
import type {
  AnchorRoundOnceReturnType,
  AnchorRoundParameters,
  AnchorRoundReturnType,
  ClaimCreditsParameters,
  DisputeParameters,
  DisputeReturnType,
  RegisterJobParameters,
  RegisterJobReturnType,
  RegisterVerifiersParameters,
  TransactionOutcome,
} from "./registry-types.js";

export interface CreateRegistryWritesParameters {
  publicClient: PublicClient<Transport, Chain>;
  registry: Address;
  send: RegistrySend;
  reads: RegistryReads;
}

/** Every registry transaction; each waits for its receipt before returning. */
export interface RegistryWrites {
  registerJob(parameters: RegisterJobParameters): Promise<RegisterJobReturnType>;
  anchorRound(parameters: AnchorRoundParameters): Promise<AnchorRoundReturnType>;
  /** Anchors unless the round already holds this very anchor; safe to run again after a crash. */
  anchorRoundOnce(parameters: AnchorRoundParameters): Promise<AnchorRoundOnceReturnType>;
  claimCredits(parameters: ClaimCreditsParameters): Promise<TransactionOutcome>;
  /** Names the Groth16 verifier of each circuit of a job; once, before round 1 is anchored. */
  registerVerifiers(parameters: RegisterVerifiersParameters): Promise<TransactionOutcome>;
  /** Re-verifies one proof of an anchored contribution on chain (anyone may send it). */
  dispute(parameters: DisputeParameters): Promise<DisputeReturnType>;
  grantCoordinator(account: Address): Promise<TransactionOutcome>;
  revokeCoordinator(account: Address): Promise<TransactionOutcome>;
}

export function createRegistryWrites(parameters: CreateRegistryWritesParameters): RegistryWrites {
  const { publicClient, registry, send, reads } = parameters;

  async function anchorRound(anchor: AnchorRoundParameters): Promise<AnchorRoundReturnType> {
    const receipt = await send({
      functionName: "anchorRound",
      args: [
        anchor.jobId,
        anchor.round,
        anchor.modelHash,
        anchor.parentHash,
        anchor.contributionsRoot,
        anchor.contributors,
        anchor.creditsRoot,
        anchor.totalCredits,
        anchor.epsilonMicro ?? 0n,
        anchor.aggregateHash ?? zeroHash,
      ],
    });
    return outcome(receipt);
  }

  /** The existing anchor of the round if it is exactly `anchor`, null if the round is free. */
  async function existingAnchor(
    anchor: AnchorRoundParameters,
  ): Promise<AnchorRoundOnceReturnType | null> {
    const stored = await reads.getRound(anchor.jobId, anchor.round);
    if (!stored) return null;
    const expectedRoot = hashPair(anchor.contributionsRoot, anchor.creditsRoot);
    const expectedAggregate = (anchor.aggregateHash ?? zeroHash).toLowerCase();
    const differs = (anchored: string) =>
      new RoundAlreadyAnchoredError(
        `round ${anchor.round} of job ${anchor.jobId} is already anchored with a different model, roots or aggregate`,
        {
          errorName: "RoundAlreadyAnchored",
          args: [anchor.jobId, anchor.round],
          details: `anchored ${anchored}; this anchor: model ${anchor.modelHash}, root ${expectedRoot}, aggregate ${expectedAggregate}`,
        },
      );
    if (stored.modelHash !== anchor.modelHash.toLowerCase() || stored.roundRoot !== expectedRoot) {
      throw differs(`model ${stored.modelHash}, root ${stored.roundRoot}`);
    }
    // The contract does not store the aggregate hash; the round's RoundAnchored event carries it.
    const event = await reads.findAnchorEvent(anchor.jobId, anchor.round);
    if (event.aggregateHash !== expectedAggregate) {
      throw differs(
        `model ${stored.modelHash}, root ${stored.roundRoot}, aggregate ${event.aggregateHash}`,
      );
    }
    const receipt = await readRegistry(() =>
      publicClient.getTransactionReceipt({ hash: event.txHash }),
    );
    return { ...outcome(receipt), alreadyAnchored: true };
  }

  async function anchorRoundOnce(
    anchor: AnchorRoundParameters,
  ): Promise<AnchorRoundOnceReturnType> {
    const before = await existingAnchor(anchor);
    if (before) return before;
    try {
      return { ...(await anchorRound(anchor)), alreadyAnchored: false };
    } catch (error) {
      // Another worker anchored between our read and our send: fine if it anchored the same thing.
      // Its transaction may still be pending (the node simulates against pending state while
      // reads see the latest block), so wait for it to be mined before deciding.
      if (!(error instanceof RoundAlreadyAnchoredError)) throw error;
      for (let attempt = 0; attempt < 50; attempt++) {
        const after = await existingAnchor(anchor);
        if (after) return after;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      // Still pending (a slow chain, a send from an attempt that crashed): the round is taken,
      // so failing for good would leave it never recorded as anchored. A retry finds it mined,
      // or finds a different anchor and fails loudly then.
      throw new AnchorNotYetVisibleError(
        `round ${anchor.round} of job ${anchor.jobId} is being anchored by a transaction not mined yet`,
        { cause: error },
      );
    }
  }

  return {
    async registerJob({ specHash, initialModelHash, vkeyHash }) {
      const receipt = await send({
        functionName: "registerJob",
        args: [specHash, initialModelHash, vkeyHash],
      });
      const [registered] = parseEventLogs({
        abi: fedproofRegistryAbi,
        eventName: "JobRegistered",
        logs: receipt.logs.filter((log) => log.address.toLowerCase() === registry.toLowerCase()),
      });
      if (!registered)
        throw new FedproofError(`registerJob ${receipt.transactionHash} emitted no JobRegistered`);
      return { jobId: registered.args.jobId, ...outcome(receipt) };
    },

    anchorRound,
    anchorRoundOnce,

    async claimCredits({ jobId, round, account: claimant, amount, proof }) {
      return outcome(
        await send({ functionName: "claimCredits", args: [jobId, round, claimant, amount, proof] }),
      );
    },

    async registerVerifiers({ jobId, verifiers }) {
      return outcome(
        await send({
          functionName: "registerVerifiers",
          args: [
            jobId,
            verifiers.map((item) => item.circuitIdHash),
            verifiers.map((item) => item.verifier),
          ],
        }),
      );
    },

    async dispute({ jobId, round, leaf, merkleProof, proof }) {
      const receipt = await send({
        functionName: "dispute",
        args: [
          jobId,
          round,
          { ...leaf, chunkHashes: [...leaf.chunkHashes] },
          [...merkleProof],
          {
            index: proof.index,
            circuitIdHash: proof.circuitIdHash,
            a: [proof.a[0], proof.a[1]],
            b: [
              [proof.b[0][0], proof.b[0][1]],
              [proof.b[1][0], proof.b[1][1]],
            ],
            c: [proof.c[0], proof.c[1]],
            publicSignals: [...proof.publicSignals],
          },
        ],
      });
      const [disputed] = parseEventLogs({
        abi: fedproofRegistryAbi,
        eventName: "ContributionDisputed",
        logs: receipt.logs.filter((log) => log.address.toLowerCase() === registry.toLowerCase()),
      });
      if (!disputed)
        throw new FedproofError(
          `dispute ${receipt.transactionHash} emitted no ContributionDisputed`,
        );
      return { ...outcome(receipt), proofValid: disputed.args.proofValid };
    },

    async grantCoordinator(target) {
      if (target === zeroAddress)
        throw new InvalidArgumentError("cannot grant the coordinator role to the zero address");
      return outcome(
        await send({ functionName: "grantRole", args: [await reads.coordinatorRole(), target] }),
      );
    },

    async revokeCoordinator(target) {
      return outcome(
        await send({ functionName: "revokeRole", args: [await reads.coordinatorRole(), target] }),
      );
    },
  };
}

function outcome(receipt: TransactionReceipt): TransactionOutcome {
  return {
    txHash: receipt.transactionHash,
    gasUsed: receipt.gasUsed,
    blockNumber: receipt.blockNumber,
  };
}
