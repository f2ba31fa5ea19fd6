import { type Address, getAddress, type Hex } from "viem";
import { FedproofError } from "../../common/errors.js";
import {
  fedproofRegistryAbi,
  fedproofRegistryBytecode,
} from "../../contracts/generated/fedproof-registry.js";
import { type ChainSigner, createChainClients } from "./chain-clients.js";
import { decodeRegistryError } from "./registry-errors.js";

export interface DeployRegistryParameters {
  rpcUrl: string;
  chainId: number;
  /** Pays for the deployment; becomes admin and coordinator unless told otherwise. */
  account: ChainSigner;
  /** Holds the admin role (grants and revokes coordinators); defaults to the deploying account. */
  admin?: Address;
  /** Gets the coordinator role at deployment; defaults to the deploying account, null for nobody. */
  coordinator?: Address | null;
  pollingIntervalMs?: number;
}

export interface DeployRegistryReturnType {
  registry: Address;
  txHash: Hex;
  blockNumber: bigint;
  gasUsed: bigint;
}

/** Deploys a FedproofRegistry and waits until its code is on chain. */
export async function deployRegistry(
  parameters: DeployRegistryParameters,
): Promise<DeployRegistryReturnType> {
  const { publicClient, walletClient, account } = createChainClients(parameters);
  // createChainClients always builds both when an account is given.
  const sender = account!;
  const admin = parameters.admin ?? sender.address;
  const coordinator =
    parameters.coordinator === null
      ? "0x0000000000000000000000000000000000000000"
      : (parameters.coordinator ?? sender.address);
  try {
    const txHash = await walletClient!.deployContract({
      abi: fedproofRegistryAbi,
      bytecode: fedproofRegistryBytecode,
      args: [admin, coordinator],
    });
    const receipt = await publicClient.waitForTransactionReceipt({ hash: txHash });
    if (receipt.status !== "success" || !receipt.contractAddress) {
      throw new FedproofError(`registry deployment ${txHash} failed`, {
        code: "FAILED_PRECONDITION",
      });
    }
    return {
      registry: getAddress(receipt.contractAddress),
      txHash,
      blockNumber: receipt.blockNumber,
      gasUsed: receipt.gasUsed,
    };
  } catch (error) {
    throw decodeRegistryError(error);
  }
}
