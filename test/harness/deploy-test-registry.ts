import type { Address } from "viem";
import { buildContracts } from "../../contracts/build.js";
import type { ChainConfig } from "../../coordinator/chain/chain-config.js";
import type { StartAnvilReturnType } from "./anvil.js";

export interface DeployTestRegistryReturnType {
  registry: Address;
  /** What a coordinator anchors with: the chain, the registry and the first account's key. */
  chain: ChainConfig;
}

/** Deploys the RoundRegistry on `anvil` from its first account. */
export async function deployTestRegistry(
  anvil: StartAnvilReturnType,
): Promise<DeployTestRegistryReturnType> {
  // The registry client imports the compiled contract, which exists only once built.
  await buildContracts();
  const { deployRegistry } = await import("../../coordinator/chain/registry-client.js");
  const { makeChainConfig } = await import("../../coordinator/chain/chain-config.js");
  const key = anvil.accounts[0]!.privateKey;
  const { registry } = await deployRegistry({
    rpcUrl: anvil.rpcUrl,
    chainId: anvil.chainId,
    account: key,
    pollingIntervalMs: 50,
  });
  const chain = makeChainConfig({
    rpcUrl: anvil.rpcUrl,
    chainId: anvil.chainId,
    registry,
    privateKey: key,
  });
  return { registry, chain };
}
