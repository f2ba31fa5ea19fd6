import { type Hex, zeroHash } from "viem";
import { InvalidArgumentError } from "../../common/errors.js";
import { sha256HexToBytes32 } from "../../protocol/provenance/merkle.js";
import type { JobRecord } from "../store/job-store.js";
import type { ChainConfig } from "./chain-config.js";
import {
  type DeployedVerifier,
  deployGroth16Verifiers,
  type VerifierCircuit,
} from "./deploy-verifiers.js";
import { createRegistryClient, type RegistryClient } from "./registry-client.js";
import type { SendLock } from "./send-lock.js";

export interface RegisterJobOnChainParameters {
  chain: ChainConfig;
  job: Pick<JobRecord, "jobId" | "specHash" | "initialModelHash">;
  /** `jobVerificationKeyHash(keys)`; the zero hash (the default) for a job without proofs. */
  vkeyHash?: Hex;
  /**
   * The job's circuits (id and final zkey): a snarkjs Groth16 verifier is deployed for each and
   * registered for the job, so that anyone can dispute its anchored contributions on chain.
   * None (the default) for a job without proofs.
   */
  circuits?: readonly VerifierCircuit[];
  /** Reuse a client (and its send lock) instead of building one from `chain`. */
  registry?: RegistryClient;
  sendLock?: SendLock;
  pollingIntervalMs?: number;
}

export interface RegisterJobOnChainReturnType {
  /** The registry's job id (decimal), what anchor jobs and bundles name as `chainJobId`. */
  chainJobId: string;
  txHash: Hex;
  blockNumber: number;
  gasUsed: number;
  /** The verifiers deployed and registered for the job's circuits; empty without circuits. */
  verifiers: DeployedVerifier[];
}

/**
 * Registers a job on the registry: its spec hash, initial model hash and verification-key hash;
 * then, for a job with circuits, deploys each circuit's Groth16 verifier and registers them for
 * the job (`registerVerifiers`, which the registry accepts only before round 1 is anchored).
 * Not idempotent: each call registers a new chain job, so the caller stores `chainJobId` with the
 * job before it anchors anything.
 */
export async function registerJobOnChain(
  parameters: RegisterJobOnChainParameters,
): Promise<RegisterJobOnChainReturnType> {
  const { chain, job } = parameters;
  const registry =
    parameters.registry ??
    createRegistryClient({
      rpcUrl: chain.rpcUrl,
      chainId: chain.chainId,
      registry: chain.registry,
      account: chain.privateKey,
      sendLock: parameters.sendLock,
      pollingIntervalMs: parameters.pollingIntervalMs,
    });
  const result = await registry.registerJob({
    specHash: sha256HexToBytes32(job.specHash, `spec hash of job ${job.jobId}`),
    initialModelHash: sha256HexToBytes32(
      job.initialModelHash,
      `initial model hash of job ${job.jobId}`,
    ),
    vkeyHash: parameters.vkeyHash ?? zeroHash,
  });
  const circuits = parameters.circuits ?? [];
  let verifiers: DeployedVerifier[] = [];
  if (circuits.length > 0) {
    if (!chain.privateKey) {
      throw new InvalidArgumentError("deploying the job's verifiers needs the coordinator's key");
    }
    verifiers = await deployGroth16Verifiers({
      rpcUrl: chain.rpcUrl,
      chainId: chain.chainId,
      account: chain.privateKey,
      circuits,
      sendLock: parameters.sendLock,
      pollingIntervalMs: parameters.pollingIntervalMs,
    });
    await registry.registerVerifiers({ jobId: result.jobId, verifiers });
  }
  return {
    chainJobId: result.jobId.toString(),
    txHash: result.txHash,
    blockNumber: Number(result.blockNumber),
    gasUsed: Number(result.gasUsed),
    verifiers,
  };
}
