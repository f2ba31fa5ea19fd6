import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdir, readFile, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import type * as grpc from "@grpc/grpc-js";
import { type Command, InvalidArgumentError, Option } from "commander";
import { InvalidArgumentError as FedproofInvalidArgumentError } from "../../common/errors.js";
import { fingerprint } from "../../common/redact.js";
import {
  channelCredentials,
  createFedproofClients,
  type FedproofClients,
} from "../../proto/clients.js";
import { reportError } from "../output.js";

export function int(name: string, min = 0) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!Number.isInteger(parsed) || parsed < min)
      throw new InvalidArgumentError(`${name} must be an integer ≥ ${min}`);
    return parsed;
  };
}

export function num(name: string) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!Number.isFinite(parsed)) throw new InvalidArgumentError(`${name} must be a number`);
    return parsed;
  };
}

/** The options every verb shares. */
export function withCommon(command: Command): Command {
  return command
    .option("--json", "machine-readable output (a single JSON document on stdout)")
    .addOption(
      new Option("--log-level <level>", "log level for stderr").choices([
        "fatal",
        "error",
        "warn",
        "info",
        "debug",
        "trace",
        "silent",
      ]),
    );
}

export function withRedis(command: Command): Command {
  return command
    .option("--redis-url <url>", "Redis URL (default: $REDIS_URL or redis://127.0.0.1:6379)")
    .option(
      "--prefix <prefix>",
      "Redis key and queue prefix shared by coordinator and workers",
      "fedproof",
    )
    .option(
      "--store <dir>",
      "artifact store directory (content-addressed blobs)",
      ".fedproof/store",
    );
}

export function redisUrlOf(options: { redisUrl?: string }): string {
  return options.redisUrl ?? process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
}

/** Flags naming the chain a coordinator or anchor worker writes to; the key never appears on the command line. */
export function withChain(command: Command): Command {
  return command
    .option(
      "--rpc-url <url>",
      "EVM JSON-RPC endpoint to anchor on (default: $FEDPROOF_RPC_URL); omit to run without a chain",
    )
    .option(
      "--chain-id <id>",
      "chain id (default: $FEDPROOF_CHAIN_ID, else asked from the endpoint)",
    )
    .option(
      "--registry <address>",
      "FedproofRegistry contract address (default: $FEDPROOF_REGISTRY)",
    )
    .option(
      "--key-file <file>",
      "file holding the coordinator's private key (default: $FEDPROOF_CHAIN_KEY or $FEDPROOF_CHAIN_KEY_FILE)",
    );
}

/** The coordinator's address and how to reach it (plaintext, or TLS with `withTls`'s flags). */
export function withCoordinatorAddress(command: Command): Command {
  return withTls(
    command.option(
      "--coordinator <host:port>",
      "coordinator address (default: $FEDPROOF_COORDINATOR or 127.0.0.1:50051)",
    ),
  );
}

/** Client-side TLS flags, for every command that calls a coordinator. */
export function withTls(command: Command): Command {
  return command
    .option("--tls", "connect over TLS, trusting the system's CA certificates")
    .option(
      "--tls-ca <file>",
      "connect over TLS, trusting this CA certificate (PEM) (default: $FEDPROOF_TLS_CA)",
    )
    .option(
      "--tls-cert <file>",
      "this client's certificate (PEM), for a coordinator that requires client certificates",
    )
    .option("--tls-key <file>", "the private key (PEM) of --tls-cert");
}

export interface TlsFlags {
  tls?: boolean;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
}

/** Plaintext unless a TLS flag (or $FEDPROOF_TLS_CA) is given. */
export function channelCredentialsOf(options: TlsFlags): grpc.ChannelCredentials {
  const caFile = options.tlsCa ?? (process.env.FEDPROOF_TLS_CA || undefined);
  if (Boolean(options.tlsCert) !== Boolean(options.tlsKey)) {
    throw new FedproofInvalidArgumentError("--tls-cert and --tls-key go together");
  }
  if (!options.tls && !caFile && !options.tlsCert) return channelCredentials();
  return channelCredentials({
    ca: caFile ? readPemSync(caFile, "--tls-ca") : undefined,
    cert: options.tlsCert ? readPemSync(options.tlsCert, "--tls-cert") : undefined,
    key: options.tlsKey ? readPemSync(options.tlsKey, "--tls-key") : undefined,
  });
}

/**
 * Clients for the coordinator the flags name, over the transport they ask for. A TLS file that
 * cannot be read ends the command with the usual error report.
 */
export function coordinatorClients(
  options: { coordinator?: string; json?: boolean } & TlsFlags,
): FedproofClients {
  try {
    return createFedproofClients(coordinatorOf(options), channelCredentialsOf(options));
  } catch (error) {
    reportError(error, options);
  }
}

function readPemSync(file: string, flag: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new FedproofInvalidArgumentError(`cannot read ${flag} ${file} (${code ?? "error"})`);
  }
}

export async function readPem(file: string, flag: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new FedproofInvalidArgumentError(`cannot read ${flag} ${file} (${code ?? "error"})`);
  }
}

/** `--metrics-port` / `--metrics-host` of the long-running commands; metrics are off by default. */
export function withMetrics(command: Command): Command {
  return command
    .option(
      "--metrics-port <port>",
      "serve Prometheus metrics at http://HOST:PORT/metrics (default: off; 0 = any free port)",
      int("--metrics-port"),
    )
    .option("--metrics-host <host>", "address the metrics endpoint binds", "127.0.0.1");
}

export function metricsOf(options: {
  metricsPort?: number;
  metricsHost?: string;
}): { port: number; host?: string } | undefined {
  return options.metricsPort === undefined
    ? undefined
    : { port: options.metricsPort, host: options.metricsHost };
}

/** Where a coordinator keeps the bearer token it generated, when told nothing else. */
export const DEFAULT_TOKEN_FILE = ".fedproof/coordinator-token";

export interface TokenFlags {
  token?: string;
  tokenFile?: string;
}

export interface BearerToken {
  token: string;
  /** Where it came from, for the operator: a file, $FEDPROOF_TOKEN or --token. */
  source: string;
  /** The token file, when it came from (or was written to) one. */
  file?: string;
  /** True when the coordinator generated it at this start. */
  generated: boolean;
  /** A name for it that says which token it is without giving it away. */
  fingerprint: string;
}

export const TOKEN_FLAG_HELP =
  "deprecated: the token on the command line shows in `ps` and shell history; use --token-file or $FEDPROOF_TOKEN";

/** `--token-file` and the deprecated `--token`; `what` says what the token is for. */
export function withToken(command: Command, what: string, tokenFileHelp: string): Command {
  return command
    .option("--token-file <file>", `file holding the bearer token ${what} (${tokenFileHelp})`)
    .option("--token <token>", TOKEN_FLAG_HELP);
}

function warnTokenOnArgv(): void {
  process.stderr.write(
    "fedproof: warning: --token is deprecated: its value shows in `ps` and shell history; use --token-file FILE or $FEDPROOF_TOKEN\n",
  );
}

function bearerToken(token: string, source: string, file?: string, generated = false): BearerToken {
  return { token, source, file, generated, fingerprint: fingerprint(token) };
}

/**
 * The token a client sends: --token (deprecated), else --token-file, else $FEDPROOF_TOKEN, else
 * $FEDPROOF_TOKEN_FILE; undefined when none is given.
 */
export async function clientToken(options: TokenFlags): Promise<string | undefined> {
  if (options.token) {
    warnTokenOnArgv();
    return options.token;
  }
  if (options.tokenFile) return (await readTokenFile(options.tokenFile)).token;
  if (process.env.FEDPROOF_TOKEN) return process.env.FEDPROOF_TOKEN;
  const file = process.env.FEDPROOF_TOKEN_FILE;
  return file ? (await readTokenFile(file)).token : undefined;
}

/**
 * The token a coordinator accepts: --token (deprecated), else --token-file, else
 * $FEDPROOF_TOKEN, else $FEDPROOF_TOKEN_FILE, else DEFAULT_TOKEN_FILE. A token file that does
 * not exist yet is created with a generated token, readable by its owner only, so the token
 * itself is never printed.
 */
export async function coordinatorToken(options: TokenFlags): Promise<BearerToken> {
  if (options.token) {
    warnTokenOnArgv();
    return bearerToken(options.token, "--token");
  }
  if (!options.tokenFile && process.env.FEDPROOF_TOKEN) {
    return bearerToken(process.env.FEDPROOF_TOKEN, "$FEDPROOF_TOKEN");
  }
  const file = options.tokenFile ?? (process.env.FEDPROOF_TOKEN_FILE || DEFAULT_TOKEN_FILE);
  try {
    return await readTokenFile(file);
  } catch (error) {
    if (!(error instanceof TokenFileMissingError)) throw error;
  }
  const token = randomBytes(24).toString("base64url");
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  await writeFile(file, `${token}\n`, { mode: 0o600, flag: "wx" });
  return bearerToken(token, file, file, true);
}

class TokenFileMissingError extends FedproofInvalidArgumentError {
  override name = "TokenFileMissingError";
}

async function readTokenFile(file: string): Promise<BearerToken> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new TokenFileMissingError(`the token file ${file} does not exist`);
    throw new FedproofInvalidArgumentError(
      `cannot read the token file ${file} (${code ?? "error"})`,
    );
  }
  const token = text.trim();
  if (!token) throw new FedproofInvalidArgumentError(`the token file ${file} is empty`);
  if (((await stat(file)).mode & 0o077) !== 0) {
    process.stderr.write(
      `fedproof: warning: the token file ${file} is readable by other users; chmod 600 ${file}\n`,
    );
  }
  return bearerToken(token, file, file);
}

export function coordinatorOf(options: { coordinator?: string }): string {
  return options.coordinator ?? process.env.FEDPROOF_COORDINATOR ?? "127.0.0.1:50051";
}
