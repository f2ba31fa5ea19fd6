/**
 * Starts a local Anvil chain from the binary shipped by `@foundry-rs/anvil`, for the demo, the
 * `fedproof chain serve` verb and the tests. The chain listens on 127.0.0.1 only: its dev keys are
 * public knowledge, so it must never be reachable from another host.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createRequire } from "node:module";
import { type Address, type Hex, toHex } from "viem";
import { mnemonicToAccount } from "viem/accounts";
import { FedproofError, InvalidArgumentError } from "../../common/errors.js";

/** Anvil's default mnemonic; passed explicitly so the keys derived here always match the node's. */
export const anvilMnemonic = "test test test test test test test test test test test junk";

export interface AnvilAccount {
  address: Address;
  /** A publicly known development key: never use it on a real chain. */
  privateKey: Hex;
}

export interface StartAnvilParameters {
  /** TCP port on 127.0.0.1; 0 (the default) lets the OS pick a free one. */
  port?: number;
  /** Load the chain from this file if it exists and dump it there on stop (`--state`). */
  statePath?: string;
  /** Also dump the state every N seconds, so a crash loses at most N seconds of chain. */
  stateIntervalSeconds?: number;
  /** Seconds between blocks; unset mines one block per transaction. */
  blockTime?: number;
  /** Defaults to 31337, Anvil's own default. */
  chainId?: number;
  /** Number of funded dev accounts; defaults to 10. */
  accounts?: number;
  /** How long to wait for the node to answer; defaults to 30 s (slow, shared CI machines). */
  startTimeoutMs?: number;
  /** Path to an anvil binary; defaults to the one installed with @foundry-rs/anvil. */
  binary?: string;
}

export interface StartAnvilReturnType {
  rpcUrl: string;
  chainId: number;
  port: number;
  accounts: AnvilAccount[];
  /** Stops the node (dumping its state when `statePath` was given). Safe to call twice. */
  stop(): Promise<void>;
}

export class AnvilError extends FedproofError {
  override name = "AnvilError";
  constructor(shortMessage: string, parameters: { details?: string; cause?: unknown } = {}) {
    super(shortMessage, { ...parameters, code: "UNAVAILABLE" });
  }
}

const require = createRequire(import.meta.url);

/** Mirrors @foundry-rs/anvil's own platform table, without running its wrapper process. */
export function resolveAnvilBinary(): string {
  const arch = { x64: "amd64", arm64: "arm64" }[process.arch as string];
  const platform = ["linux", "darwin", "win32"].includes(process.platform)
    ? process.platform
    : null;
  if (!arch || !platform) {
    throw new AnvilError(`Anvil has no binary for ${process.platform}/${process.arch}`);
  }
  const binaryName = platform === "win32" ? "anvil.exe" : "anvil";
  const packageName = `@foundry-rs/anvil-${platform}-${arch}`;
  try {
    return require.resolve(`${packageName}/bin/${binaryName}`);
  } catch (cause) {
    throw new AnvilError(`Anvil binary not found: is ${packageName} installed?`, { cause });
  }
}

let derivedAccounts: AnvilAccount[] = [];

/** The dev accounts Anvil funds, derived once (key derivation is deliberately slow). */
export function anvilAccounts(count = 10): AnvilAccount[] {
  for (let index = derivedAccounts.length; index < count; index++) {
    const account = mnemonicToAccount(anvilMnemonic, { addressIndex: index });
    const privateKey = account.getHdKey().privateKey;
    if (!privateKey) throw new AnvilError("could not derive an Anvil dev key");
    derivedAccounts = [
      ...derivedAccounts,
      { address: account.address, privateKey: toHex(privateKey) },
    ];
  }
  return derivedAccounts.slice(0, count);
}

const listeningLine = /Listening on [^\s:]+:(\d+)/;
/** Enough of the node's output to explain a failed start, without holding its whole log. */
const outputTailBytes = 4_000;

export async function startAnvil(
  parameters: StartAnvilParameters = {},
): Promise<StartAnvilReturnType> {
  const port = parameters.port ?? 0;
  const chainId = parameters.chainId ?? 31337;
  const accountCount = parameters.accounts ?? 10;
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new InvalidArgumentError(`port must be an integer in [0, 65535], got ${port}`);
  }
  if (!Number.isInteger(accountCount) || accountCount < 1) {
    throw new InvalidArgumentError(`accounts must be a positive integer, got ${accountCount}`);
  }

  const args = [
    "--host",
    "127.0.0.1",
    "--port",
    String(port),
    "--chain-id",
    String(chainId),
    "--accounts",
    String(accountCount),
    "--mnemonic",
    anvilMnemonic,
  ];
  if (parameters.statePath) args.push("--state", parameters.statePath);
  if (parameters.stateIntervalSeconds !== undefined) {
    args.push("--state-interval", String(parameters.stateIntervalSeconds));
  }
  if (parameters.blockTime !== undefined) args.push("--block-time", String(parameters.blockTime));

  const child = spawn(parameters.binary ?? resolveAnvilBinary(), args, {
    stdio: ["ignore", "pipe", "pipe"],
  });
  // A parent that dies without calling stop() must not leave a chain behind.
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);

  let output = "";
  const keepTail = (chunk: Buffer) => {
    // Anvil logs every RPC call: keep reading so its pipe never fills and blocks the node.
    output = (output + chunk.toString("utf8")).slice(-outputTailBytes);
  };
  child.stderr.on("data", keepTail);

  // "error" without "exit" is a binary that never started.
  const exited = new Promise<void>((resolve) => {
    child.once("exit", () => resolve());
    child.once("error", () => resolve());
  });
  const stop = once(async () => {
    process.off("exit", killOnExit);
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    // SIGINT is Anvil's graceful path: it dumps `--state` before exiting.
    child.kill("SIGINT");
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  });

  try {
    const boundPort = await waitForListening(
      child,
      keepTail,
      () => output,
      parameters.startTimeoutMs,
    );
    const rpcUrl = `http://127.0.0.1:${boundPort}`;
    await waitForChainId(rpcUrl, chainId, child, parameters.startTimeoutMs ?? 30_000);
    const accounts = anvilAccounts(accountCount);
    const nodeAccounts = await rpc<Address[]>(rpcUrl, "eth_accounts");
    if (nodeAccounts[0]?.toLowerCase() !== accounts[0]?.address.toLowerCase()) {
      throw new AnvilError("Anvil's dev accounts differ from the keys derived from its mnemonic");
    }
    return { rpcUrl, chainId, port: boundPort, accounts, stop };
  } catch (error) {
    await stop();
    if (error instanceof AnvilError) {
      throw new AnvilError(error.shortMessage, {
        details: output.trim() || undefined,
        cause: error.cause,
      });
    }
    throw error;
  }
}

function waitForListening(
  child: ChildProcess,
  keepTail: (chunk: Buffer) => void,
  output: () => string,
  timeoutMs = 30_000,
): Promise<number> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (action: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.off("exit", onExit);
      action();
    };
    const timer = setTimeout(
      () =>
        settle(() =>
          reject(new AnvilError(`Anvil did not start listening within ${timeoutMs} ms`)),
        ),
      timeoutMs,
    );
    const onExit = (code: number | null) =>
      settle(() => reject(new AnvilError(`Anvil exited during start-up (code ${code})`)));
    child.once("exit", onExit);
    child.once("error", (cause) =>
      settle(() => reject(new AnvilError("could not run Anvil", { cause }))),
    );
    child.stdout?.on("data", (chunk: Buffer) => {
      keepTail(chunk);
      const match = listeningLine.exec(output());
      if (match) settle(() => resolve(Number(match[1])));
    });
  });
}

async function waitForChainId(
  rpcUrl: string,
  expected: number,
  child: ChildProcess,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new AnvilError(`Anvil exited (code ${child.exitCode})`);
    try {
      const answer = Number(await rpc<Hex>(rpcUrl, "eth_chainId"));
      if (answer !== expected) {
        throw new AnvilError(`Anvil answers chain id ${answer}, expected ${expected}`);
      }
      return;
    } catch (error) {
      if (error instanceof AnvilError) throw error;
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new AnvilError(`Anvil did not answer eth_chainId within ${timeoutMs} ms`, {
    cause: lastError,
  });
}

async function rpc<T>(rpcUrl: string, method: string): Promise<T> {
  const response = await fetch(rpcUrl, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params: [] }),
  });
  const body = (await response.json()) as { result?: T; error?: { message: string } };
  if (body.error || body.result === undefined) {
    throw new AnvilError(`Anvil refused ${method}`, { details: body.error?.message });
  }
  return body.result;
}

function once(action: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  return () => {
    running ??= action();
    return running;
  };
}
