/**
 * Typed access to a deployed FedproofRegistry: register jobs, anchor rounds (idempotently), claim
 * credits, read rounds and walk a model's ancestry. Reverts come back as fedproof errors
 * (registry-errors.ts); transactions wait for their receipt before returning.
 */
import {
  type Address,
  BaseError,
  type ContractFunctionArgs,
  type ContractFunctionName,
  type EncodeFunctionDataParameters,
  encodeFunctionData,
  getAddress,
  getContractError,
  type Hex,
  type LocalAccount,
  type Log,
  parseEventLogs,
  type TransactionReceipt,
  zeroAddress,
  zeroHash,
} from "viem";
import { FedproofError, InvalidArgumentError } from "../../common/errors.js";
import { fedproofRegistryAbi } from "../../contracts/generated/fedproof-registry.js";
import { hashPair } from "../../protocol/provenance/merkle.js";
import { type ChainSigner, createChainClients } from "./chain-clients.js";
import {
  AncestryMismatchError,
  decodeRegistryError,
  ModelNotAnchoredError,
  RegistryRevertedError,
  RoundAlreadyAnchoredError,
} from "./registry-errors.js";
import { createLocalSendLock, type SendLock } from "./send-lock.js";

export {
  type DeployRegistryParameters,
  type DeployRegistryReturnType,
  deployRegistry,
} from "./deploy-registry.js";

export interface CreateRegistryClientParameters {
  rpcUrl: string;
  chainId: number;
  registry: Address;
  /** Needed only to send transactions; reads work without it. */
  account?: ChainSigner;
  pollingIntervalMs?: number;
  /**
   * Serialises sends per signing key (nonce safety). Defaults to an in-process lock; pass
   * `createRedisSendLock` when several processes share the key.
   */
  sendLock?: SendLock;
}

export interface TransactionOutcome {
  txHash: Hex;
  gasUsed: bigint;
  blockNumber: bigint;
}

export interface RegistryJob {
  jobId: bigint;
  specHash: Hex;
  initialModelHash: Hex;
  vkeyHash: Hex;
  coordinator: Address;
  registeredBlock: bigint;
}

export interface RegistryRound {
  jobId: bigint;
  round: number;
  modelHash: Hex;
  parentHash: Hex;
  /** hashPair(contributionsRoot, creditsRoot), the only root the contract stores. */
  roundRoot: Hex;
  contributors: number;
  totalCredits: bigint;
  epsilonMicro: bigint;
  claimedCredits: bigint;
}

export interface RegisterJobParameters {
  specHash: Hex;
  initialModelHash: Hex;
  /** Hash of the job's Groth16 verification key; zero when the job runs without proofs. */
  vkeyHash: Hex;
}

export interface RegisterJobReturnType extends TransactionOutcome {
  jobId: bigint;
}

export interface AnchorRoundParameters {
  jobId: bigint;
  round: number;
  modelHash: Hex;
  parentHash: Hex;
  contributionsRoot: Hex;
  creditsRoot: Hex;
  contributors: number;
  totalCredits: bigint;
  /** Privacy budget ε of the round in millionths; 0 (the default) when the job adds no DP noise. */
  epsilonMicro?: bigint;
}

export type AnchorRoundReturnType = TransactionOutcome;

export interface AnchorRoundOnceReturnType extends TransactionOutcome {
  /** True when the round was anchored before this call, which then sent nothing. */
  alreadyAnchored: boolean;
}

export interface ClaimCreditsParameters {
  jobId: bigint;
  round: number;
  account: Address;
  amount: bigint;
  /** From `buildRoundTree(…).creditProof(account).proof`. */
  proof: readonly Hex[];
}

export interface RoundAnchoredEvent {
  jobId: bigint;
  round: number;
  modelHash: Hex;
  parentHash: Hex;
  contributionsRoot: Hex;
  creditsRoot: Hex;
  contributors: number;
  totalCredits: bigint;
  epsilonMicro: bigint;
  txHash: Hex;
  blockNumber: bigint;
}

export interface JobRegisteredEvent {
  jobId: bigint;
  initialModelHash: Hex;
  coordinator: Address;
  specHash: Hex;
  vkeyHash: Hex;
  txHash: Hex;
  blockNumber: bigint;
}

export interface GetRoundAnchoredEventsParameters {
  jobId?: bigint;
  round?: number;
  modelHash?: Hex;
  /** Defaults to the job's registration block when `jobId` is given, else to genesis. */
  fromBlock?: bigint;
}

export interface AncestryRound extends RegistryRound {
  /** From the round's `RoundAnchored` event, checked against `roundRoot`. */
  contributionsRoot: Hex;
  creditsRoot: Hex;
  anchorTx: Hex;
  anchorBlock: bigint;
}

export interface WalkAncestryReturnType {
  job: RegistryJob;
  /** Newest first, down to round 1 (whose parent is the job's initial model); empty for an initial model. */
  rounds: AncestryRound[];
}

export interface RegistryClient {
  registry: Address;
  /** The sending account's address, when an account was given. */
  sender: Address | undefined;
  registerJob(parameters: RegisterJobParameters): Promise<RegisterJobReturnType>;
  anchorRound(parameters: AnchorRoundParameters): Promise<AnchorRoundReturnType>;
  /** Anchors unless the round already holds this very anchor; safe to run again after a crash. */
  anchorRoundOnce(parameters: AnchorRoundParameters): Promise<AnchorRoundOnceReturnType>;
  claimCredits(parameters: ClaimCreditsParameters): Promise<TransactionOutcome>;
  grantCoordinator(account: Address): Promise<TransactionOutcome>;
  revokeCoordinator(account: Address): Promise<TransactionOutcome>;
  isCoordinator(account: Address): Promise<boolean>;
  getJob(jobId: bigint): Promise<RegistryJob | null>;
  getRound(jobId: bigint, round: number): Promise<RegistryRound | null>;
  roundOfModel(modelHash: Hex): Promise<{ jobId: bigint; round: number } | null>;
  /** The first job registered with this initial model, or null. */
  jobOfInitialModel(modelHash: Hex): Promise<bigint | null>;
  creditsOf(account: Address): Promise<bigint>;
  hasClaimed(jobId: bigint, round: number, account: Address): Promise<boolean>;
  verifyContribution(parameters: VerifyContributionParameters): Promise<boolean>;
  getRoundAnchoredEvents(
    parameters?: GetRoundAnchoredEventsParameters,
  ): Promise<RoundAnchoredEvent[]>;
  getJobRegisteredEvents(parameters?: { fromBlock?: bigint }): Promise<JobRegisteredEvent[]>;
  walkAncestry(modelHash: Hex): Promise<WalkAncestryReturnType>;
}

export interface VerifyContributionParameters {
  jobId: bigint;
  round: number;
  deviceId: Hex;
  commitment: Hex;
  proofHash: Hex;
  weight: bigint;
  /** From `buildRoundTree(…).contributionProof(deviceId)`. */
  proof: readonly Hex[];
}

type RegistryAbi = typeof fedproofRegistryAbi;
type WriteFunctionName = ContractFunctionName<RegistryAbi, "nonpayable" | "payable">;
/** One state-changing registry call, typed from the ABI. */
type RegistryWrite = {
  [name in WriteFunctionName]: {
    functionName: name;
    args: ContractFunctionArgs<RegistryAbi, "nonpayable" | "payable", name>;
  };
}[WriteFunctionName];

export type CreateRegistryClientReturnType = RegistryClient;

export function createRegistryClient(
  parameters: CreateRegistryClientParameters,
): CreateRegistryClientReturnType {
  const registry = getAddress(parameters.registry);
  const { publicClient, walletClient, account } = createChainClients(parameters);
  const contract = { address: registry, abi: fedproofRegistryAbi } as const;
  const sendLock = parameters.sendLock ?? createLocalSendLock();

  const requireAccount = (): LocalAccount => {
    if (!account)
      throw new InvalidArgumentError("this registry client has no account to send transactions");
    return account;
  };

  async function read<T>(action: () => Promise<T>): Promise<T> {
    try {
      return await action();
    } catch (error) {
      throw decodeRegistryError(error);
    }
  }

  /**
   * Simulates first so that a revert is decoded before anything is signed, then sends (both under
   * the sender's lock, see send-lock.ts) and waits for the receipt. A transaction that still
   * reverts on chain (another sender won a race) is replayed at its block to name the reason.
   */
  async function send(call: RegistryWrite): Promise<TransactionReceipt> {
    const sender = requireAccount();
    const data = encodeFunctionData({
      abi: fedproofRegistryAbi,
      ...call,
    } as EncodeFunctionDataParameters<typeof fedproofRegistryAbi>);
    const asContractError = (error: unknown) =>
      error instanceof BaseError
        ? getContractError(error, {
            abi: fedproofRegistryAbi,
            address: registry,
            functionName: call.functionName,
            args: call.args,
            sender: sender.address,
          })
        : error;
    try {
      // Simulate inside the lock too: a send queued behind another may find the state changed.
      const txHash = await sendLock(sender.address, async () => {
        await publicClient.call({ account: sender, to: registry, data });
        return walletClient!.sendTransaction({ to: registry, data });
      });
      const receipt = await publicClient.waitForTransactionReceipt({ hash: txHash });
      if (receipt.status === "reverted") {
        await publicClient.call({
          account: sender,
          to: registry,
          data,
          blockNumber: receipt.blockNumber,
        });
        throw new RegistryRevertedError(`transaction ${txHash} reverted on chain`);
      }
      return receipt;
    } catch (error) {
      throw decodeRegistryError(asContractError(error));
    }
  }

  const outcome = (receipt: TransactionReceipt): TransactionOutcome => ({
    txHash: receipt.transactionHash,
    gasUsed: receipt.gasUsed,
    blockNumber: receipt.blockNumber,
  });

  async function getJob(jobId: bigint): Promise<RegistryJob | null> {
    const job = await read(() =>
      publicClient.readContract({ ...contract, functionName: "getJob", args: [jobId] }),
    );
    if (job.initialModelHash === zeroHash) return null;
    return { jobId, ...job };
  }

  async function getRound(jobId: bigint, round: number): Promise<RegistryRound | null> {
    const stored = await read(() =>
      publicClient.readContract({ ...contract, functionName: "getRound", args: [jobId, round] }),
    );
    if (stored.modelHash === zeroHash) return null;
    return { jobId, round, ...stored };
  }

  async function getRoundAnchoredEvents(
    filter: GetRoundAnchoredEventsParameters = {},
  ): Promise<RoundAnchoredEvent[]> {
    let fromBlock = filter.fromBlock;
    if (fromBlock === undefined && filter.jobId !== undefined) {
      fromBlock = (await getJob(filter.jobId))?.registeredBlock;
    }
    const logs = await read(() =>
      publicClient.getContractEvents({
        ...contract,
        eventName: "RoundAnchored",
        args: { jobId: filter.jobId, round: filter.round, modelHash: filter.modelHash },
        fromBlock: fromBlock ?? 0n,
        toBlock: "latest",
        strict: true,
      }),
    );
    return logs.map((log) => ({ ...log.args, ...logPosition(log) }));
  }

  async function findAnchorEvent(jobId: bigint, round: number): Promise<RoundAnchoredEvent> {
    const [event] = await getRoundAnchoredEvents({ jobId, round });
    if (!event) {
      throw new AncestryMismatchError(
        `round ${round} of job ${jobId} is anchored but its event is missing`,
      );
    }
    return event;
  }

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
      ],
    });
    return outcome(receipt);
  }

  /** The existing anchor of the round if it is exactly `anchor`, null if the round is free. */
  async function existingAnchor(
    anchor: AnchorRoundParameters,
  ): Promise<AnchorRoundOnceReturnType | null> {
    const stored = await getRound(anchor.jobId, anchor.round);
    if (!stored) return null;
    const expectedRoot = hashPair(anchor.contributionsRoot, anchor.creditsRoot);
    if (stored.modelHash !== anchor.modelHash.toLowerCase() || stored.roundRoot !== expectedRoot) {
      throw new RoundAlreadyAnchoredError(
        `round ${anchor.round} of job ${anchor.jobId} is already anchored with a different model or roots`,
        {
          errorName: "RoundAlreadyAnchored",
          args: [anchor.jobId, anchor.round],
          details: `anchored model ${stored.modelHash}, root ${stored.roundRoot}; this anchor: model ${anchor.modelHash}, root ${expectedRoot}`,
        },
      );
    }
    const event = await findAnchorEvent(anchor.jobId, anchor.round);
    const receipt = await read(() => publicClient.getTransactionReceipt({ hash: event.txHash }));
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
      if (error instanceof RoundAlreadyAnchoredError) {
        for (let attempt = 0; attempt < 50; attempt++) {
          const after = await existingAnchor(anchor);
          if (after) return after;
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      }
      throw error;
    }
  }

  async function walkAncestry(modelHash: Hex): Promise<WalkAncestryReturnType> {
    const location = await roundOfModel(modelHash);
    if (!location) {
      const jobId = await jobOfInitialModel(modelHash);
      const job = jobId === null ? null : await getJob(jobId);
      if (!job) {
        throw new ModelNotAnchoredError(
          `model hash ${modelHash} is not anchored on registry ${registry}`,
        );
      }
      return { job, rounds: [] };
    }

    const job = await getJob(location.jobId);
    if (!job)
      throw new AncestryMismatchError(
        `model ${modelHash} names job ${location.jobId}, which is unknown`,
      );
    // One log query for the whole job instead of one per round.
    const events = new Map<number, RoundAnchoredEvent>();
    for (const event of await getRoundAnchoredEvents({
      jobId: job.jobId,
      fromBlock: job.registeredBlock,
    })) {
      events.set(event.round, event);
    }

    const rounds: AncestryRound[] = [];
    let expected = modelHash.toLowerCase() as Hex;
    for (let round = location.round; round >= 1; round--) {
      const stored = await getRound(job.jobId, round);
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

  async function roundOfModel(modelHash: Hex): Promise<{ jobId: bigint; round: number } | null> {
    const [jobId, round] = await read(() =>
      publicClient.readContract({ ...contract, functionName: "roundOfModel", args: [modelHash] }),
    );
    return jobId === 0n ? null : { jobId, round };
  }

  async function jobOfInitialModel(modelHash: Hex): Promise<bigint | null> {
    const jobId = await read(() =>
      publicClient.readContract({
        ...contract,
        functionName: "jobOfInitialModel",
        args: [modelHash],
      }),
    );
    return jobId === 0n ? null : jobId;
  }

  async function roleHash(): Promise<Hex> {
    return read(() => publicClient.readContract({ ...contract, functionName: "COORDINATOR_ROLE" }));
  }

  return {
    registry,
    sender: account?.address,

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

    async grantCoordinator(target) {
      if (target === zeroAddress)
        throw new InvalidArgumentError("cannot grant the coordinator role to the zero address");
      return outcome(await send({ functionName: "grantRole", args: [await roleHash(), target] }));
    },

    async revokeCoordinator(target) {
      return outcome(await send({ functionName: "revokeRole", args: [await roleHash(), target] }));
    },

    async isCoordinator(target) {
      const role = await roleHash();
      return read(() =>
        publicClient.readContract({ ...contract, functionName: "hasRole", args: [role, target] }),
      );
    },

    getJob,
    getRound,
    roundOfModel,
    jobOfInitialModel,

    creditsOf: (target) =>
      read(() =>
        publicClient.readContract({ ...contract, functionName: "creditsOf", args: [target] }),
      ),

    hasClaimed: (jobId, round, target) =>
      read(() =>
        publicClient.readContract({
          ...contract,
          functionName: "hasClaimed",
          args: [jobId, round, target],
        }),
      ),

    verifyContribution: ({ jobId, round, deviceId, commitment, proofHash, weight, proof }) =>
      read(() =>
        publicClient.readContract({
          ...contract,
          functionName: "verifyContribution",
          args: [jobId, round, deviceId, commitment, proofHash, weight, proof],
        }),
      ),

    getRoundAnchoredEvents,

    async getJobRegisteredEvents({ fromBlock } = {}) {
      const logs = await read(() =>
        publicClient.getContractEvents({
          ...contract,
          eventName: "JobRegistered",
          fromBlock: fromBlock ?? 0n,
          toBlock: "latest",
          strict: true,
        }),
      );
      return logs.map((log) => ({ ...log.args, ...logPosition(log) }));
    },

    walkAncestry,
  };
}

function logPosition(log: Log<bigint, number, false>): { txHash: Hex; blockNumber: bigint } {
  return { txHash: log.transactionHash, blockNumber: log.blockNumber };
}
