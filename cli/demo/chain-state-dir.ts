/**
 * A demo's chain, kept on disk so that `fedproof verify` still works after the demo exits:
 *
 *   DIR/chain.json         {"rpcUrl", "registry", "chainId"}: where the chain was served
 *   DIR/anvil-state.json   Anvil's `--state` dump (accounts, code, storage, blocks and logs)
 *
 * `serveChainState(DIR)` (behind `fedproof chain serve --state DIR`) starts Anvil again from the
 * dump, at the rpcUrl written in chain.json, so the addresses and URLs a demo printed stay valid.
 */
import { mkdir, readFile, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { type Address, createPublicClient, getAddress, http, isAddress } from "viem";
import { FedproofError, InvalidArgumentError } from "../../common/errors.js";
import { startAnvil } from "./anvil.js";

export const CHAIN_DESCRIPTOR_FILE = "chain.json";
export const ANVIL_STATE_FILE = "anvil-state.json";

export interface ChainDescriptor {
  rpcUrl: string;
  registry: Address;
  chainId: number;
}

/** Where the demo's Anvil keeps its state: pass it as `startAnvil({ statePath })`. */
export function chainStatePath(directory: string): string {
  return path.join(directory, ANVIL_STATE_FILE);
}

export async function writeChainDescriptor(
  directory: string,
  descriptor: ChainDescriptor,
): Promise<string> {
  await mkdir(directory, { recursive: true });
  const file = path.join(directory, CHAIN_DESCRIPTOR_FILE);
  const { rpcUrl, registry, chainId } = descriptor;
  await writeFile(file, `${JSON.stringify({ rpcUrl, registry, chainId }, null, 2)}\n`);
  return file;
}

export async function readChainDescriptor(directory: string): Promise<ChainDescriptor> {
  const file = path.join(directory, CHAIN_DESCRIPTOR_FILE);
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, "utf8"));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new InvalidArgumentError(
      code === "ENOENT"
        ? `${file} does not exist: is ${directory} a demo's --out directory?`
        : `${file} is not valid JSON`,
    );
  }
  const value = raw as Partial<Record<keyof ChainDescriptor, unknown>>;
  if (typeof value.rpcUrl !== "string" || !URL.canParse(value.rpcUrl)) {
    throw new InvalidArgumentError(`${file}: rpcUrl must be a URL`);
  }
  if (typeof value.registry !== "string" || !isAddress(value.registry, { strict: false })) {
    throw new InvalidArgumentError(`${file}: registry must be an address`);
  }
  if (
    typeof value.chainId !== "number" ||
    !Number.isSafeInteger(value.chainId) ||
    value.chainId <= 0
  ) {
    throw new InvalidArgumentError(`${file}: chainId must be a positive integer`);
  }
  return { rpcUrl: value.rpcUrl, registry: getAddress(value.registry), chainId: value.chainId };
}

export class ChainStateError extends FedproofError {
  override name = "ChainStateError";
  constructor(shortMessage: string, parameters: { details?: string; cause?: unknown } = {}) {
    super(shortMessage, { ...parameters, code: "FAILED_PRECONDITION" });
  }
}

export interface ServeChainStateParameters {
  directory: string;
  /** Serve on this port instead of the one in chain.json (the printed rpcUrl changes with it). */
  port?: number;
}

export interface ServeChainStateReturnType extends ChainDescriptor {
  statePath: string;
  port: number;
  /** Stops Anvil, which dumps the state back into the directory. */
  stop(): Promise<void>;
}

const localHosts = new Set(["127.0.0.1", "localhost", "[::1]"]);

export async function serveChainState(
  parameters: ServeChainStateParameters,
): Promise<ServeChainStateReturnType> {
  const { directory } = parameters;
  const descriptor = await readChainDescriptor(directory);
  const url = new URL(descriptor.rpcUrl);
  if (!localHosts.has(url.hostname)) {
    throw new ChainStateError(
      `${path.join(directory, CHAIN_DESCRIPTOR_FILE)} points at ${url.host}, not a local chain: there is nothing to serve, use that endpoint directly`,
    );
  }
  const statePath = chainStatePath(directory);
  try {
    await stat(statePath);
  } catch {
    throw new ChainStateError(
      `${statePath} does not exist: the demo did not keep its chain (was its Anvil stopped cleanly?)`,
    );
  }
  const port = parameters.port ?? Number(url.port || 80);
  let anvil: Awaited<ReturnType<typeof startAnvil>>;
  try {
    anvil = await startAnvil({ port, statePath, chainId: descriptor.chainId });
  } catch (error) {
    throw new ChainStateError(
      `could not serve the chain on port ${port}${parameters.port === undefined ? " (from chain.json; pass --port to choose another)" : ""}`,
      { cause: error, details: error instanceof FedproofError ? error.message : String(error) },
    );
  }
  try {
    const code = await createPublicClient({ transport: http(anvil.rpcUrl) }).getCode({
      address: descriptor.registry,
    });
    if (!code || code === "0x") {
      throw new ChainStateError(
        `the chain state in ${statePath} holds no contract at the registry address ${descriptor.registry}`,
      );
    }
  } catch (error) {
    await anvil.stop();
    throw error;
  }
  return {
    rpcUrl: anvil.rpcUrl,
    registry: descriptor.registry,
    chainId: descriptor.chainId,
    statePath,
    port: anvil.port,
    stop: anvil.stop,
  };
}
