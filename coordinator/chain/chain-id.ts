/**
 * Asking an endpoint which chain it serves. Apart from chain-config.ts (which reads key files),
 * so that the verifier, which runs in browsers too, can ask without Node built-ins.
 */
import { createPublicClient, http } from "viem";
import { FedproofError } from "../../common/errors.js";

export class ChainIdUnavailableError extends FedproofError {
  override name = "ChainIdUnavailableError";
  constructor(shortMessage: string, parameters: { cause?: unknown } = {}) {
    super(shortMessage, { ...parameters, code: "UNAVAILABLE" });
  }
}

/** Asks the endpoint for its chain id (eth_chainId). */
export async function fetchChainId(rpcUrl: string): Promise<number> {
  try {
    return await createPublicClient({ transport: http(rpcUrl, { retryCount: 1 }) }).getChainId();
  } catch (cause) {
    throw new ChainIdUnavailableError(`the chain at ${rpcUrl} did not answer eth_chainId`, {
      cause,
    });
  }
}
