/** The registry's data as the client hands it out: jobs, rounds, anchors and their events. */
import type { Address, Hex } from "viem";

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

/** What a round's anchor says, in the transaction and in its RoundAnchored event alike. */
export interface RoundAnchor {
  jobId: bigint;
  round: number;
  modelHash: Hex;
  parentHash: Hex;
  contributionsRoot: Hex;
  creditsRoot: Hex;
  contributors: number;
  totalCredits: bigint;
}

export interface AnchorRoundParameters extends RoundAnchor {
  /** Privacy budget ε of the round in millionths; 0 (the default) when the job adds no DP noise. */
  epsilonMicro?: bigint;
  /** Hash of the round's exact integer aggregate; the zero hash (the default) when not linear. */
  aggregateHash?: Hex;
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

export interface RoundAnchoredEvent extends RoundAnchor {
  epsilonMicro: bigint;
  /**
   * Hash of the round's exact integer aggregate; the zero hash when the strategy is not linear.
   * Only the event carries it: the contract does not store it (issue 4's gas bound).
   */
  aggregateHash: Hex;
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
  /** From the round's `RoundAnchored` event; the zero hash when the strategy is not linear. */
  aggregateHash: Hex;
  anchorTx: Hex;
  anchorBlock: bigint;
}

export interface WalkAncestryReturnType {
  job: RegistryJob;
  /** Newest first, down to round 1 (whose parent is the job's initial model); empty for an initial model. */
  rounds: AncestryRound[];
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

export interface RegisterVerifiersParameters {
  jobId: bigint;
  /** keccak256 of each circuit id (`circuitIdHash`), with the verifier deployed for it. */
  verifiers: readonly { circuitIdHash: Hex; verifier: Address }[];
}

/** The arguments of `dispute`, as disputeContribution builds them from a bundle. */
export interface DisputeParameters {
  jobId: bigint;
  round: number;
  leaf: {
    deviceId: Hex;
    commitment: Hex;
    weight: bigint;
    chunkHashes: readonly Hex[];
    kzgCommitmentsHash: Hex;
  };
  /** The leaf's proof in the contributions tree, then the round's credits root. */
  merkleProof: readonly Hex[];
  proof: {
    index: bigint;
    circuitIdHash: Hex;
    a: readonly [bigint, bigint];
    /** In the Solidity verifier's order (each G2 coordinate pair swapped against snarkjs JSON). */
    b: readonly [readonly [bigint, bigint], readonly [bigint, bigint]];
    c: readonly [bigint, bigint];
    publicSignals: readonly bigint[];
  };
}

export interface DisputeReturnType extends TransactionOutcome {
  /** The verifier's verdict, from the ContributionDisputed event. */
  proofValid: boolean;
}

export interface ContributionDisputedEvent {
  jobId: bigint;
  round: number;
  /** The anchored bytes32 device id (round-leaves.ts deviceIdHash). */
  deviceId: Hex;
  proofIndex: bigint;
  proofValid: boolean;
  disputer: Address;
  txHash: Hex;
  blockNumber: bigint;
}

export interface GetContributionDisputedEventsParameters {
  jobId: bigint;
  round?: number;
  /** Defaults to the job's registration block. */
  fromBlock?: bigint;
}

export interface VerifierRegisteredEvent {
  jobId: bigint;
  circuitIdHash: Hex;
  verifier: Address;
  txHash: Hex;
  blockNumber: bigint;
}
