/**
 * viem clients for one JSON-RPC endpoint. The signing key is handed over by the caller (from an
 * environment variable, a file, or Anvil's dev accounts) and lives only inside the viem account:
 * nothing here logs it, and errors name the account's address, never its key.
 */
import {
  type Chain,
  createPublicClient,
  createWalletClient,
  defineChain,
  type Hex,
  http,
  type LocalAccount,
  type PublicClient,
  type Transport,
  type WalletClient,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { InvalidArgumentError } from "../../common/errors.js";

/** A viem local account, or a 32-byte private key to build one from. */
export type ChainSigner = LocalAccount | Hex;

export interface CreateChainClientsParameters {
  rpcUrl: string;
  chainId: number;
  account?: ChainSigner;
  /** How often to poll for receipts and blocks; viem's 4 s default suits public chains, not Anvil. */
  pollingIntervalMs?: number;
}

export interface CreateChainClientsReturnType {
  chain: Chain;
  publicClient: PublicClient<Transport, Chain>;
  walletClient: WalletClient<Transport, Chain, LocalAccount> | undefined;
  account: LocalAccount | undefined;
}

export function createChainClients(
  parameters: CreateChainClientsParameters,
): CreateChainClientsReturnType {
  const { rpcUrl, chainId } = parameters;
  if (!Number.isSafeInteger(chainId) || chainId <= 0) {
    throw new InvalidArgumentError(`chain id must be a positive integer, got ${chainId}`);
  }
  const chain = defineChain({
    id: chainId,
    name: `chain ${chainId}`,
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  });
  const pollingInterval = parameters.pollingIntervalMs ?? 1_000;
  const transport = http(rpcUrl);
  const publicClient = createPublicClient({ chain, transport, pollingInterval });
  const account = parameters.account === undefined ? undefined : toAccount(parameters.account);
  const walletClient = account
    ? createWalletClient({ chain, transport, account, pollingInterval })
    : undefined;
  return { chain, publicClient, walletClient, account };
}

function toAccount(signer: ChainSigner): LocalAccount {
  if (typeof signer !== "string") return signer;
  try {
    return privateKeyToAccount(signer);
  } catch {
    // The cause would quote the key back; say what is wrong without it.
    throw new InvalidArgumentError("the private key is not a 32-byte hex string");
  }
}
