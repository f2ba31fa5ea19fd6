import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { deletePrefix, TEST_REDIS_URL, uniquePrefix } from "./redis.js";

/** The `fedproof` executable exactly as a user runs it: node + tsx, no build step. */
export const BIN = fileURLToPath(new URL("../../bin/fedproof.js", import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs one `fedproof` command to its end. */
export function runCli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? ((error as { code?: number }).code ?? null) : 0;
        resolve({ code: typeof code === "number" ? code : null, stdout, stderr });
      },
    );
  });
}

/** A `fedproof` process that runs until it ends on its own or is stopped. */
export interface CliProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves when the process has exited, with its code and signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves once stderr (logs) matches `pattern`; rejects after `timeoutMs` or on exit. */
  waitForStderr(pattern: RegExp, timeoutMs?: number): Promise<void>;
}

export function spawnCli(args: string[], env: Record<string, string> = {}): CliProcess {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout!.on("data", (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stderr!.on("data", (chunk: Buffer) => {
    err += chunk.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitForStderr(pattern, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const done = (error?: Error) => {
          clearTimeout(timer);
          child.stderr!.off("data", check);
          child.off("exit", onExit);
          if (error) reject(error);
          else resolve();
        };
        const check = () => {
          if (pattern.test(err)) done();
        };
        const onExit = () =>
          done(new Error(`process exited before its log matched ${pattern}:\n${err}`));
        const timer = setTimeout(
          () => done(new Error(`no log line matched ${pattern} within ${timeoutMs} ms:\n${err}`)),
          timeoutMs,
        );
        child.stderr!.on("data", check);
        child.once("exit", onExit);
        check();
      });
    },
  };
}

export interface CoordinatorProcess extends CliProcess {
  address: string;
  prefix: string;
  storeDir: string;
  /** Sends SIGTERM (if still running), waits for the exit and removes keys and blobs. */
  dispose(): Promise<void>;
}

/**
 * `fedproof coordinator` as its own process, the way an operator starts it: a free port on
 * 127.0.0.1, a key prefix and store of its own, the bearer token from $FEDPROOF_TOKEN.
 */
export async function startCoordinatorProcess(
  name: string,
  options: { token: string; extraArgs?: string[]; logLevel?: string },
): Promise<CoordinatorProcess> {
  const storeDir = await mkdtemp(path.join(os.tmpdir(), `fedproof-${name}-`));
  const prefix = uniquePrefix(name);
  const process_ = spawnCli(
    [
      "coordinator",
      "--host",
      "127.0.0.1",
      "--port",
      "0",
      "--redis-url",
      TEST_REDIS_URL,
      "--prefix",
      prefix,
      "--store",
      storeDir,
      "--json",
      "--log-level",
      options.logLevel ?? "info",
      // The shared test Redis runs without the append-only file; test state is thrown away.
      "--ephemeral",
      ...(options.extraArgs ?? []),
    ],
    { FEDPROOF_TOKEN: options.token },
  );
  const dispose = async () => {
    if (process_.child.exitCode === null && process_.child.signalCode === null) {
      process_.child.kill("SIGTERM");
      const timer = setTimeout(() => process_.child.kill("SIGKILL"), 15_000);
      await process_.exited;
      clearTimeout(timer);
    }
    await deletePrefix(prefix);
    await rm(storeDir, { recursive: true, force: true });
  };
  try {
    const started = await firstJsonDocument(process_, 60_000);
    return { ...process_, address: String(started.address), prefix, storeDir, dispose };
  } catch (error) {
    await dispose();
    throw error;
  }
}

/** `--json` prints one (pretty-printed) document on stdout once the command has its answer. */
function firstJsonDocument(
  process_: CliProcess,
  timeoutMs: number,
): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`no JSON on stdout within ${timeoutMs} ms:\n${process_.stderr()}`));
    }, timeoutMs);
    const check = () => {
      try {
        const parsed = JSON.parse(process_.stdout()) as Record<string, unknown>;
        cleanup();
        resolve(parsed);
      } catch {
        // not complete yet
      }
    };
    const onExit = () => {
      cleanup();
      reject(new Error(`exited before printing its JSON:\n${process_.stderr()}`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      process_.child.stdout!.off("data", check);
      process_.child.off("exit", onExit);
    };
    process_.child.stdout!.on("data", check);
    process_.child.once("exit", onExit);
  });
}
