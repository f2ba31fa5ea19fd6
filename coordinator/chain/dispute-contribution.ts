/**
 * Disputes one proof of an anchored contribution: builds the registry's `dispute` call from a
 * provenance bundle's raw contribution fields and sends it. The contract then checks that the
 * proof is the contribution's chunk k, that the leaf is in the anchored round's root, and re-runs
 * the proof through the job's registered Groth16 verifier with a fixed gas stipend; the verdict is
 * in the `ContributionDisputed` event (`proofValid`).
 *
 * Nothing here trusts the bundle's derived fields: the leaf, chunk hashes and KZG commitments hash
 * are recomputed from the raw fields (round-leaves.ts), and the credits root that closes the
 * Merkle proof is read from the round's `RoundAnchored` event. A bundle that was tampered with
 * therefore produces a call the contract refuses (`ContributionNotAnchoredError`).
 */
import type { Address, Hex } from "viem";
import { InvalidArgumentError } from "../../common/errors.js";
import { buildMerkleTree, contributionLeaf } from "../../protocol/provenance/merkle.js";
import {
  circuitIdHash,
  commitmentBytes32,
  deviceIdHash,
  proofHashParts,
  solidityProofOf,
} from "../../protocol/provenance/round-leaves.js";
import type { BundleContribution, ProvenanceBundle } from "../../verifier/provenance-bundle.js";
import type { ChainSigner } from "./chain-clients.js";
import { createRegistryClient, type RegistryClient } from "./registry-client.js";
import { RoundNotAnchoredError } from "./registry-errors.js";
import type { DisputeParameters, DisputeReturnType } from "./registry-types.js";

export interface BuildDisputeParameters {
  bundle: ProvenanceBundle;
  round: number;
  /** The contribution's device id, as the bundle names it. */
  deviceId: string;
  /** Which of the contribution's proofs, in upload order. */
  proofIndex: number;
  /** The round's credits root, as anchored (the last sibling of a contribution's proof). */
  creditsRoot: Hex;
}

function findContribution(
  bundle: ProvenanceBundle,
  round: number,
  deviceId: string,
): { contribution: BundleContribution; all: readonly BundleContribution[] } {
  const bundled = bundle.rounds.find((item) => item.round === round);
  if (!bundled) throw new InvalidArgumentError(`the bundle has no round ${round}`);
  const contribution = bundled.contributions.find((item) => item.deviceId === deviceId);
  if (!contribution) {
    throw new InvalidArgumentError(
      `round ${round} of the bundle has no contribution of ${deviceId}`,
    );
  }
  return { contribution, all: bundled.contributions };
}

function leafOf(contribution: BundleContribution) {
  const parts = proofHashParts(
    contribution.proofs,
    contribution.kzgCommitments,
    contribution.deviceId,
  );
  return {
    leaf: {
      deviceId: deviceIdHash(contribution.deviceId, contribution.publicKey),
      commitment: commitmentBytes32(contribution.commitment, contribution.deviceId),
      weight: BigInt(contribution.samples),
      chunkHashes: parts.chunkHashes,
      kzgCommitmentsHash: parts.kzgCommitmentsHash,
    },
    proofHash: parts.proofHash,
  };
}

/** The `dispute` arguments for proof `proofIndex` of a bundled contribution. */
export function buildDispute(
  parameters: BuildDisputeParameters & { jobId: bigint },
): DisputeParameters {
  const { contribution, all } = findContribution(
    parameters.bundle,
    parameters.round,
    parameters.deviceId,
  );
  const index = parameters.proofIndex;
  const proof = contribution.proofs[index];
  if (!Number.isSafeInteger(index) || index < 0 || !proof) {
    throw new InvalidArgumentError(
      `device ${contribution.deviceId} has ${contribution.proofs.length} proofs in round ${parameters.round}, no proof ${index}`,
    );
  }
  const { leaf, proofHash } = leafOf(contribution);
  const hash = contributionLeaf({ ...leaf, proofHash });
  // The bundle's own siblings when it has them, else the round's tree rebuilt from its raw fields.
  const siblings =
    contribution.merkleProof ??
    buildMerkleTree(
      all.map((item) => {
        const other = leafOf(item);
        return contributionLeaf({ ...other.leaf, proofHash: other.proofHash });
      }),
    ).proof(hash);
  const solidity = solidityProofOf(proof, `proof ${index} of device ${contribution.deviceId}`);
  return {
    jobId: parameters.jobId,
    round: parameters.round,
    leaf,
    merkleProof: [...siblings, parameters.creditsRoot],
    proof: {
      index: BigInt(index),
      circuitIdHash: circuitIdHash(proof.circuitId),
      ...solidity,
    },
  };
}

export interface DisputeContributionParameters {
  bundle: ProvenanceBundle;
  round: number;
  deviceId: string;
  /** Default 0. */
  proofIndex?: number;
  rpcUrl: string;
  chainId: number;
  /** The registry to dispute on: the verifier's trust root, never taken from the bundle. */
  registry: Address;
  /** Pays for the dispute; anyone may dispute. */
  account: ChainSigner;
  /** Reuse a client instead of building one. */
  client?: RegistryClient;
  pollingIntervalMs?: number;
}

export interface DisputeContributionReturnType extends DisputeReturnType {
  round: number;
  deviceId: string;
  proofIndex: number;
  circuitId: string;
}

export async function disputeContribution(
  parameters: DisputeContributionParameters,
): Promise<DisputeContributionReturnType> {
  const client =
    parameters.client ??
    createRegistryClient({
      rpcUrl: parameters.rpcUrl,
      chainId: parameters.chainId,
      registry: parameters.registry,
      account: parameters.account,
      pollingIntervalMs: parameters.pollingIntervalMs,
    });
  const jobId = BigInt(parameters.bundle.chain.chainJobId);
  const [anchored] = await client.getRoundAnchoredEvents({ jobId, round: parameters.round });
  if (!anchored) {
    throw new RoundNotAnchoredError(
      `round ${parameters.round} of job ${jobId} is not anchored on registry ${client.registry}`,
      { args: [jobId, parameters.round] },
    );
  }
  const proofIndex = parameters.proofIndex ?? 0;
  const call = buildDispute({
    bundle: parameters.bundle,
    jobId,
    round: parameters.round,
    deviceId: parameters.deviceId,
    proofIndex,
    creditsRoot: anchored.creditsRoot,
  });
  const result = await client.dispute(call);
  const { contribution } = findContribution(
    parameters.bundle,
    parameters.round,
    parameters.deviceId,
  );
  return {
    ...result,
    round: parameters.round,
    deviceId: parameters.deviceId,
    proofIndex,
    circuitId: contribution.proofs[proofIndex]!.circuitId,
  };
}
