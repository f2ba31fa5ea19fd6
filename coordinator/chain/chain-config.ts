/**
 * Where the coordinator's chain lives and which key signs for it. The key comes from an
 * environment variable or a file, never from a command-line flag (flags end up in shell history
 * and `ps` output), and it is never printed: `privateKey` is a non-enumerable property, so
 * `JSON.stringify`, pino and `util.inspect` all leave it out, and every error here names the
 * key's source, never its content.
 */
import { readFile } from "node:fs/promises";
import { type Address, getAddress, type Hex, isAddress } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { InvalidArgumentError } from "../../common/errors.js";
import { fetchChainId } from "./chain-id.js";

export interface ChainConfig {
  rpcUrl: string;
  chainId: number;
  registry: Address;
  /** Non-enumerable: present for viem, absent from logs and JSON. */
  privateKey: Hex;
}

/** Environment variables read by `chainConfigFromEnv` / `chainConfigFromFlags`. */
export const CHAIN_ENV = {
  rpcUrl: "FEDPROOF_RPC_URL",
  chainId: "FEDPROOF_CHAIN_ID",
  registry: "FEDPROOF_REGISTRY",
  /** The signing key itself (32 bytes hex). */
  key: "FEDPROOF_CHAIN_KEY",
  /** A file holding the signing key, for deployments that mount secrets as files. */
  keyFile: "FEDPROOF_CHAIN_KEY_FILE",
} as const;

/** Command-line values; each falls back to its environment variable. */
export interface ChainFlags {
  rpcUrl?: string;
  chainId?: number | string;
  registry?: string;
  /** Path of a file whose only content is the key; wins over the environment. */
  keyFile?: string;
}

export type ChainEnvironment = Readonly<Record<string, string | undefined>>;

export class ChainConfigError extends InvalidArgumentError {
  override name = "ChainConfigError";
}

export interface MakeChainConfigParameters {
  rpcUrl: string;
  chainId: number;
  registry: string;
  privateKey: string;
}

/** Validates the parts and hides the key from enumeration. */
export function makeChainConfig(parameters: MakeChainConfigParameters): ChainConfig {
  const rpcUrl = parseRpcUrl(parameters.rpcUrl);
  const chainId = parseChainId(parameters.chainId, "chain id");
  if (!isAddress(parameters.registry, { strict: false })) {
    throw new ChainConfigError(`registry must be a contract address, got "${parameters.registry}"`);
  }
  const config = { rpcUrl, chainId, registry: getAddress(parameters.registry) } as ChainConfig;
  Object.defineProperty(config, "privateKey", {
    value: parsePrivateKey(parameters.privateKey, "the given key"),
    enumerable: false,
    writable: false,
  });
  return config;
}

/**
 * Builds a ChainConfig from flags, falling back to the environment (see CHAIN_ENV). The key is
 * read from `--key-file`, else $FEDPROOF_CHAIN_KEY, else $FEDPROOF_CHAIN_KEY_FILE. Without a
 * chain id the RPC endpoint is asked for it.
 */
export async function chainConfigFromFlags(
  flags: ChainFlags,
  env: ChainEnvironment = process.env,
): Promise<ChainConfig> {
  const rpcUrl = flags.rpcUrl ?? env[CHAIN_ENV.rpcUrl];
  if (!rpcUrl) {
    throw new ChainConfigError(`no chain RPC URL: pass --rpc-url or set $${CHAIN_ENV.rpcUrl}`);
  }
  const registry = flags.registry ?? env[CHAIN_ENV.registry];
  if (!registry) {
    throw new ChainConfigError(
      `no registry address: pass --registry or set $${CHAIN_ENV.registry}`,
    );
  }
  const privateKey = await readChainKey(flags, env);
  const chainIdText = flags.chainId ?? env[CHAIN_ENV.chainId];
  const chainId =
    chainIdText === undefined || chainIdText === ""
      ? await fetchChainId(parseRpcUrl(rpcUrl))
      : parseChainId(
          chainIdText,
          flags.chainId === undefined ? `$${CHAIN_ENV.chainId}` : "--chain-id",
        );
  return makeChainConfig({ rpcUrl, chainId, registry, privateKey });
}

/** `chainConfigFromFlags` with no flags: everything from the environment. */
export function chainConfigFromEnv(env: ChainEnvironment = process.env): Promise<ChainConfig> {
  return chainConfigFromFlags({}, env);
}

/** The signing key, from a file or the environment, checked; errors never quote it. */
export async function readChainKey(
  flags: Pick<ChainFlags, "keyFile">,
  env: ChainEnvironment = process.env,
): Promise<Hex> {
  const keyFile = flags.keyFile ?? (env[CHAIN_ENV.key] ? undefined : env[CHAIN_ENV.keyFile]);
  if (keyFile) {
    let text: string;
    try {
      text = await readFile(keyFile, "utf8");
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new ChainConfigError(`cannot read the chain key file ${keyFile} (${code ?? "error"})`);
    }
    return parsePrivateKey(text, `the key file ${keyFile}`);
  }
  const fromEnv = env[CHAIN_ENV.key];
  if (fromEnv) return parsePrivateKey(fromEnv, `$${CHAIN_ENV.key}`);
  throw new ChainConfigError(
    `no chain key: pass --key-file FILE or set $${CHAIN_ENV.key} (the key is never taken as a flag)`,
  );
}

/** A 32-byte secp256k1 key as 0x-hex; `source` names where it came from in errors. */
export function parsePrivateKey(text: string, source: string): Hex {
  const trimmed = text.trim();
  const hex = (
    trimmed.startsWith("0x") || trimmed.startsWith("0X") ? trimmed.slice(2) : trimmed
  ).toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(hex)) {
    throw new ChainConfigError(`${source} does not hold a 32-byte hex private key`);
  }
  const key = `0x${hex}` as Hex;
  try {
    privateKeyToAccount(key);
  } catch {
    // Zero or above the curve order: say so without echoing it.
    throw new ChainConfigError(`${source} does not hold a valid secp256k1 private key`);
  }
  return key;
}

/** What may be logged or printed about a chain config: everything but the key. */
export function describeChainConfig(config: ChainConfig): {
  rpcUrl: string;
  chainId: number;
  registry: Address;
  sender: Address;
} {
  return {
    rpcUrl: config.rpcUrl,
    chainId: config.chainId,
    registry: config.registry,
    sender: privateKeyToAccount(config.privateKey).address,
  };
}

// In their own file: the verifier asks for the chain id in browsers too, where this file's
// key-file reading cannot load.
export { ChainIdUnavailableError, fetchChainId } from "./chain-id.js";

function parseRpcUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ChainConfigError(`RPC URL is not a URL: "${text}"`);
  }
  if (!["http:", "https:"].includes(url.protocol)) {
    throw new ChainConfigError(`RPC URL must be http(s), got "${url.protocol}"`);
  }
  return text;
}

function parseChainId(value: number | string, source: string): number {
  const chainId = typeof value === "number" ? value : Number(value);
  if (!Number.isSafeInteger(chainId) || chainId <= 0) {
    throw new ChainConfigError(`${source} must be a positive integer, got "${value}"`);
  }
  return chainId;
}
