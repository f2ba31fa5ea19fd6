import { type Address, getAddress, type Hex } from "viem";
import { FedproofError } from "../../common/errors.js";
import { groth16Verifier } from "../../contracts/groth16-verifier.js";
import { circuitIdHash } from "../../protocol/provenance/round-leaves.js";
import { type ChainSigner, createChainClients } from "./chain-clients.js";
import { decodeRegistryError } from "./registry-errors.js";
import { createLocalSendLock, type SendLock } from "./send-lock.js";
import { waitForReceipt } from "./wait-for-receipt.js";

/** One circuit of a job, as circuits/build.ts and the job store describe it. */
export interface VerifierCircuit {
  id: string;
  zkeyPath: string;
}

export interface DeployGroth16VerifiersParameters {
  rpcUrl: string;
  chainId: number;
  account: ChainSigner;
  circuits: readonly VerifierCircuit[];
  /** Serialises the deployments with the key's other sends (nonce safety, send-lock.ts). */
  sendLock?: SendLock;
  pollingIntervalMs?: number;
  /** The verifier build cache; defaults to $FEDPROOF_CACHE_DIR or ~/.cache/fedproof. */
  cacheDir?: string;
}

export interface DeployedVerifier {
  circuitId: string;
  /** keccak256(circuitId): the key the registry files the verifier under. */
  circuitIdHash: Hex;
  verifier: Address;
  txHash: Hex;
  gasUsed: bigint;
}

/**
 * Exports, compiles (contracts/groth16-verifier.ts) and deploys the snarkjs Groth16 verifier of
 * each circuit, one transaction each, in order. The caller registers them with
 * `registerVerifiers` before the job's first anchor.
 */
export async function deployGroth16Verifiers(
  parameters: DeployGroth16VerifiersParameters,
): Promise<DeployedVerifier[]> {
  const { publicClient, walletClient, account } = createChainClients(parameters);
  const sender = account!;
  const sendLock = parameters.sendLock ?? createLocalSendLock();
  const deployed: DeployedVerifier[] = [];
  for (const circuit of parameters.circuits) {
    const { bytecode } = await groth16Verifier({
      zkey: circuit.zkeyPath,
      cacheDir: parameters.cacheDir,
    });
    try {
      const txHash = await sendLock(sender.address, () =>
        walletClient!.sendTransaction({ data: bytecode }),
      );
      const receipt = await waitForReceipt(publicClient, { hash: txHash });
      if (receipt.status !== "success" || !receipt.contractAddress) {
        throw new FedproofError(
          `deployment ${txHash} of the verifier of circuit ${circuit.id} failed`,
          { code: "FAILED_PRECONDITION" },
        );
      }
      deployed.push({
        circuitId: circuit.id,
        circuitIdHash: circuitIdHash(circuit.id),
        verifier: getAddress(receipt.contractAddress),
        txHash,
        gasUsed: receipt.gasUsed,
      });
    } catch (error) {
      throw decodeRegistryError(error);
    }
  }
  return deployed;
}
