import os from "node:os";
import pino, { type Logger } from "pino";
import { FedproofError } from "../common/errors.js";
import { loggerRedaction } from "../common/log-redaction.js";
import { redact } from "../common/redact.js";

export interface GlobalOptions {
  json?: boolean;
  logLevel?: string;
}

/**
 * Logs go to stderr, so that stdout carries only the answer (and `--json` stays parseable). Each
 * line names its process and host, so the lines of several coordinators and workers can be told
 * apart once collected, and goes through the secret redaction.
 */
export function createLogger(options: GlobalOptions, fallback = "info"): Logger {
  return pino(
    {
      level: options.logLevel ?? process.env.FEDPROOF_LOG_LEVEL ?? fallback,
      base: { pid: process.pid, hostname: os.hostname() },
      ...loggerRedaction,
    },
    pino.destination(2),
  );
}

/** Prints a result: JSON when asked, otherwise the human rendering. */
export function emit(options: GlobalOptions, value: unknown, human: () => string): void {
  process.stdout.write(options.json ? `${JSON.stringify(value, null, 2)}\n` : `${human()}\n`);
}

/** Status-line output for humans; silent under --json, where only the final document is printed. */
export function progress(options: GlobalOptions, line: string): void {
  if (!options.json) process.stdout.write(`${line}\n`);
  else process.stderr.write(`${line}\n`);
}

/** The one place CLI errors become text and exit codes. */
export function reportError(error: unknown, options: GlobalOptions): never {
  const grpcDetails = typeof error === "object" && error && "details" in error && "code" in error;
  // Library errors quote the URLs they failed on, credentials and API keys included.
  const message = redact(
    error instanceof FedproofError
      ? error.message
      : grpcDetails
        ? grpcMessage(error as { details: string; code: number })
        : error instanceof Error
          ? error.message
          : String(error),
  );
  const name = error instanceof Error ? error.name : "Error";
  if (options.json) process.stdout.write(`${JSON.stringify({ error: { name, message } })}\n`);
  process.stderr.write(`fedproof: ${message}\n`);
  process.exit(1);
}

const UNAVAILABLE = 14;

/**
 * A gRPC failure as text. A client and a coordinator that disagree on TLS only ever see
 * UNAVAILABLE ("Failed to connect", "self-signed certificate", "wrong version number"), so that
 * answer says what to check.
 */
function grpcMessage(error: { details: string; code: number }): string {
  const message = `${error.details} (gRPC status ${error.code})`;
  // grpc-js's words for a connection that never came up (not a coordinator shutting down).
  if (error.code !== UNAVAILABLE || !/no connection established/i.test(error.details)) {
    return message;
  }
  return `${message}\ncannot reach the coordinator: check that it runs at that address and that both sides agree on TLS (a coordinator started with --tls-cert needs --tls-ca FILE, or --tls for a publicly trusted certificate; one without it needs neither)`;
}
