/**
 * Typed access to a deployed FedproofRegistry: register jobs, anchor rounds (idempotently), claim
 * credits, read rounds and walk a model's ancestry. Reverts come back as fedproof errors
 * (registry-errors.ts); transactions wait for their receipt before returning. The parts live
 * apart: reads (registry-reads.ts), the guarded send (registry-send.ts), the transactions
 * (registry-writes.ts) and the ancestry walk (walk-ancestry.ts).
 */
import { type Address, getAddress, type Hex } from "viem";
import { type ChainSigner, createChainClients } from "./chain-clients.js";
import { createRegistryReads, type RegistryReads } from "./registry-reads.js";
import { createRegistrySend } from "./registry-send.js";
import type { WalkAncestryReturnType } from "./registry-types.js";
import { createRegistryWrites, type RegistryWrites } from "./registry-writes.js";
import { createLocalSendLock, type SendLock } from "./send-lock.js";
import { walkAncestry } from "./walk-ancestry.js";

export {
  type DeployRegistryParameters,
  type DeployRegistryReturnType,
  deployRegistry,
} from "./deploy-registry.js";
export type {
  AncestryRound,
  AnchorRoundOnceReturnType,
  AnchorRoundParameters,
  AnchorRoundReturnType,
  ClaimCreditsParameters,
  ContributionDisputedEvent,
  DisputeParameters,
  DisputeReturnType,
  GetContributionDisputedEventsParameters,
  GetRoundAnchoredEventsParameters,
  JobRegisteredEvent,
  RegisterJobParameters,
  RegisterJobReturnType,
  RegisterVerifiersParameters,
  RegistryJob,
  RegistryRound,
  RoundAnchor,
  RoundAnchoredEvent,
  TransactionOutcome,
  VerifierRegisteredEvent,
  VerifyContributionParameters,
  WalkAncestryReturnType,
} from "./registry-types.js";

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

export interface RegistryClient
  extends RegistryWrites,
    Omit<RegistryReads, "coordinatorRole" | "findAnchorEvent"> {
  registry: Address;
  /** The sending account's address, when an account was given. */
  sender: Address | undefined;
  walkAncestry(modelHash: Hex): Promise<WalkAncestryReturnType>;
}

export type CreateRegistryClientReturnType = RegistryClient;

export function createRegistryClient(
  parameters: CreateRegistryClientParameters,
): CreateRegistryClientReturnType {
  const registry = getAddress(parameters.registry);
  const { publicClient, walletClient, account } = createChainClients(parameters);
  const reads = createRegistryReads({ publicClient, registry });
  const send = createRegistrySend({
    publicClient,
    walletClient,
    account,
    registry,
    sendLock: parameters.sendLock ?? createLocalSendLock(),
  });
  return {
    registry,
    sender: account?.address,
    ...createRegistryWrites({ publicClient, registry, send, reads }),
    getJob: reads.getJob,
    getRound: reads.getRound,
    roundOfModel: reads.roundOfModel,
    jobOfInitialModel: reads.jobOfInitialModel,
    isCoordinator: reads.isCoordinator,
    creditsOf: reads.creditsOf,
    hasClaimed: reads.hasClaimed,
    verifyContribution: reads.verifyContribution,
    getRoundAnchoredEvents: reads.getRoundAnchoredEvents,
    getJobRegisteredEvents: reads.getJobRegisteredEvents,
    getContributionDisputedEvents: reads.getContributionDisputedEvents,
    verifierOf: reads.verifierOf,
    getVerifierRegisteredEvents: reads.getVerifierRegisteredEvents,
    creditToken: reads.creditToken,
    walkAncestry: (modelHash) => walkAncestry(reads, registry, modelHash),
  };
}
