import {
  type Address,
  BaseError,
  type Chain,
  type ContractFunctionArgs,
  type ContractFunctionName,
  type EncodeFunctionDataParameters,
  encodeFunctionData,
  getContractError,
  type LocalAccount,
  type PublicClient,
  type TransactionReceipt,
  type Transport,
  type WalletClient,
} from "viem";
import { InvalidArgumentError } from "../../common/errors.js";
import { fedproofRegistryAbi } from "../../contracts/generated/fedproof-registry.js";
import { decodeRegistryError, RegistryRevertedError } from "./registry-errors.js";
import type { SendLock } from "./send-lock.js";
import { waitForReceipt } from "./wait-for-receipt.js";

type RegistryAbi = typeof fedproofRegistryAbi;
type WriteFunctionName = ContractFunctionName<RegistryAbi, "nonpayable" | "payable">;
/** One state-changing registry call, typed from the ABI. */
export type RegistryWrite = {
  [name in WriteFunctionName]: {
    functionName: name;
    args: ContractFunctionArgs<RegistryAbi, "nonpayable" | "payable", name>;
  };
}[WriteFunctionName];

export interface CreateRegistrySendParameters {
  publicClient: PublicClient<Transport, Chain>;
  walletClient: WalletClient<Transport, Chain, LocalAccount> | undefined;
  account: LocalAccount | undefined;
  registry: Address;
  sendLock: SendLock;
}

/** Sends one registry transaction and resolves with its successful receipt. */
export type RegistrySend = (call: RegistryWrite) => Promise<TransactionReceipt>;

/**
 * Simulates first so that a revert is decoded before anything is signed, then sends (both under
 * the sender's lock, see send-lock.ts) and waits for the receipt (wait-for-receipt.ts: a
 * transaction the node dropped, or a node that went away, fails the send transiently instead of
 * hanging). A transaction that still reverts on chain (another sender won a race) is replayed at
 * its block to name the reason.
 */
export function createRegistrySend(parameters: CreateRegistrySendParameters): RegistrySend {
  const { publicClient, walletClient, account, registry, sendLock } = parameters;

  const requireAccount = (): LocalAccount => {
    if (!account)
      throw new InvalidArgumentError("this registry client has no account to send transactions");
    return account;
  };

  return async (call) => {
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
      // Not viem's waitForTransactionReceipt: it waits out a transaction the node dropped.
      const receipt = await waitForReceipt(publicClient, { hash: txHash });
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
  };
}
