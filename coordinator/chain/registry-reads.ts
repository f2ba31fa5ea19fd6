import {
  type Address,
  type Chain,
  type Hex,
  type Log,
  type PublicClient,
  type Transport,
  zeroAddress,
  zeroHash,
} from "viem";
import { fedproofRegistryAbi } from "../../contracts/generated/fedproof-registry.js";
import { AncestryMismatchError, decodeRegistryError } from "./registry-errors.js";
import type {
  ContributionDisputedEvent,
  GetContributionDisputedEventsParameters,
  GetRoundAnchoredEventsParameters,
  JobRegisteredEvent,
  RegistryJob,
  RegistryRound,
  RoundAnchoredEvent,
  VerifierRegisteredEvent,
  VerifyContributionParameters,
} from "./registry-types.js";

export interface CreateRegistryReadsParameters {
  publicClient: PublicClient<Transport, Chain>;
  registry: Address;
}

/** Everything the registry answers without a transaction; an unknown job or round reads as null. */
export interface RegistryReads {
  getJob(jobId: bigint): Promise<RegistryJob | null>;
  getRound(jobId: bigint, round: number): Promise<RegistryRound | null>;
  roundOfModel(modelHash: Hex): Promise<{ jobId: bigint; round: number } | null>;
  /** The first job registered with this initial model, or null. */
  jobOfInitialModel(modelHash: Hex): Promise<bigint | null>;
  coordinatorRole(): Promise<Hex>;
  isCoordinator(account: Address): Promise<boolean>;
  creditsOf(account: Address): Promise<bigint>;
  hasClaimed(jobId: bigint, round: number, account: Address): Promise<boolean>;
  verifyContribution(parameters: VerifyContributionParameters): Promise<boolean>;
  getRoundAnchoredEvents(
    parameters?: GetRoundAnchoredEventsParameters,
  ): Promise<RoundAnchoredEvent[]>;
  getJobRegisteredEvents(parameters?: { fromBlock?: bigint }): Promise<JobRegisteredEvent[]>;
  /** Every dispute of the job's contributions (optionally of one round), oldest first. */
  getContributionDisputedEvents(
    parameters: GetContributionDisputedEventsParameters,
  ): Promise<ContributionDisputedEvent[]>;
  /** The verifiers the job registered (VerifierRegistered events). */
  getVerifierRegisteredEvents(parameters: {
    jobId: bigint;
    fromBlock?: bigint;
  }): Promise<VerifierRegisteredEvent[]>;
  /** The Groth16 verifier registered for a job's circuit, null when none. */
  verifierOf(jobId: bigint, circuitIdHash: Hex): Promise<Address | null>;
  /** The FedproofCredits (ERC-20) token that claims mint. */
  creditToken(): Promise<Address>;
  /** The RoundAnchored event of a round the registry holds; its absence means a broken chain. */
  findAnchorEvent(jobId: bigint, round: number): Promise<RoundAnchoredEvent>;
}

/** Runs one registry read, so a revert comes back as the registry's fedproof error. */
export async function readRegistry<T>(action: () => Promise<T>): Promise<T> {
  try {
    return await action();
  } catch (error) {
    throw decodeRegistryError(error);
  }
}

export function createRegistryReads(parameters: CreateRegistryReadsParameters): RegistryReads {
  const { publicClient, registry } = parameters;
  const contract = { address: registry, abi: fedproofRegistryAbi } as const;

  async function getJob(jobId: bigint): Promise<RegistryJob | null> {
    const job = await readRegistry(() =>
      publicClient.readContract({ ...contract, functionName: "getJob", args: [jobId] }),
    );
    if (job.initialModelHash === zeroHash) return null;
    return { jobId, ...job };
  }

  async function getRoundAnchoredEvents(
    filter: GetRoundAnchoredEventsParameters = {},
  ): Promise<RoundAnchoredEvent[]> {
    let fromBlock = filter.fromBlock;
    if (fromBlock === undefined && filter.jobId !== undefined) {
      fromBlock = (await getJob(filter.jobId))?.registeredBlock;
    }
    const logs = await readRegistry(() =>
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

  const coordinatorRole = () =>
    readRegistry(() =>
      publicClient.readContract({ ...contract, functionName: "COORDINATOR_ROLE" }),
    );

  return {
    getJob,

    async getRound(jobId, round) {
      const stored = await readRegistry(() =>
        publicClient.readContract({ ...contract, functionName: "getRound", args: [jobId, round] }),
      );
      if (stored.modelHash === zeroHash) return null;
      return { jobId, round, ...stored };
    },

    async roundOfModel(modelHash) {
      const [jobId, round] = await readRegistry(() =>
        publicClient.readContract({ ...contract, functionName: "roundOfModel", args: [modelHash] }),
      );
      return jobId === 0n ? null : { jobId, round };
    },

    async jobOfInitialModel(modelHash) {
      const jobId = await readRegistry(() =>
        publicClient.readContract({
          ...contract,
          functionName: "jobOfInitialModel",
          args: [modelHash],
        }),
      );
      return jobId === 0n ? null : jobId;
    },

    coordinatorRole,

    async isCoordinator(target) {
      const role = await coordinatorRole();
      return readRegistry(() =>
        publicClient.readContract({ ...contract, functionName: "hasRole", args: [role, target] }),
      );
    },

    creditsOf: (target) =>
      readRegistry(() =>
        publicClient.readContract({ ...contract, functionName: "creditsOf", args: [target] }),
      ),

    hasClaimed: (jobId, round, target) =>
      readRegistry(() =>
        publicClient.readContract({
          ...contract,
          functionName: "hasClaimed",
          args: [jobId, round, target],
        }),
      ),

    verifyContribution: ({ jobId, round, deviceId, commitment, proofHash, weight, proof }) =>
      readRegistry(() =>
        publicClient.readContract({
          ...contract,
          functionName: "verifyContribution",
          args: [jobId, round, deviceId, commitment, proofHash, weight, proof],
        }),
      ),

    getRoundAnchoredEvents,

    async getJobRegisteredEvents({ fromBlock } = {}) {
      const logs = await readRegistry(() =>
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

    async getContributionDisputedEvents({ jobId, round, fromBlock }) {
      const from = fromBlock ?? (await getJob(jobId))?.registeredBlock ?? 0n;
      const logs = await readRegistry(() =>
        publicClient.getContractEvents({
          ...contract,
          eventName: "ContributionDisputed",
          args: { jobId, round },
          fromBlock: from,
          toBlock: "latest",
          strict: true,
        }),
      );
      return logs.map((log) => ({ ...log.args, ...logPosition(log) }));
    },

    async getVerifierRegisteredEvents({ jobId, fromBlock }) {
      const from = fromBlock ?? (await getJob(jobId))?.registeredBlock ?? 0n;
      const logs = await readRegistry(() =>
        publicClient.getContractEvents({
          ...contract,
          eventName: "VerifierRegistered",
          args: { jobId },
          fromBlock: from,
          toBlock: "latest",
          strict: true,
        }),
      );
      return logs.map((log) => ({ ...log.args, ...logPosition(log) }));
    },

    async verifierOf(jobId, circuitIdHash) {
      const verifier = await readRegistry(() =>
        publicClient.readContract({
          ...contract,
          functionName: "verifierOf",
          args: [jobId, circuitIdHash],
        }),
      );
      return verifier === zeroAddress ? null : verifier;
    },

    creditToken: () =>
      readRegistry(() => publicClient.readContract({ ...contract, functionName: "creditToken" })),

    async findAnchorEvent(jobId, round) {
      const [event] = await getRoundAnchoredEvents({ jobId, round });
      if (!event) {
        throw new AncestryMismatchError(
          `round ${round} of job ${jobId} is anchored but its event is missing`,
        );
      }
      return event;
    },
  };
}

function logPosition(log: Log<bigint, number, false>): { txHash: Hex; blockNumber: bigint } {
  return { txHash: log.transactionHash, blockNumber: log.blockNumber };
}
