import { spawn } from "node:child_process";
import { FedproofError } from "../../common/errors.js";
import { REPOSITORY_ROOT } from "../harness.js";

export interface RunJsonChildParameters {
  command: string;
  args: readonly string[];
  /** Added to this process's environment. */
  env?: Record<string, string>;
  /** Killed (SIGTERM) after this long; the case then fails rather than hanging the run. */
  timeoutMs: number;
}

/** A benchmark child exited non-zero, timed out or printed no JSON. */
export class BenchmarkChildError extends FedproofError {
  override name = "BenchmarkChildError";
  constructor(shortMessage: string, details?: string) {
    super(shortMessage, { code: "INTERNAL", details });
  }
}

/**
 * Runs one measurement in a process of its own (so that its peak RSS is its own) from the
 * repository root, and parses the last line it printed as JSON. stderr is kept for the
 * error message only: tfjs prints its banner there.
 */
export async function runJsonChild<T>(p: RunJsonChildParameters): Promise<T> {
  const child = spawn(p.command, [...p.args], {
    cwd: REPOSITORY_ROOT,
    env: { ...process.env, ...p.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
  });
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  const timer = setTimeout(() => child.kill("SIGTERM"), p.timeoutMs);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (exitCode) => resolve(exitCode));
  }).finally(() => clearTimeout(timer));
  const commandLine = [p.command, ...p.args].join(" ");
  if (code !== 0) {
    throw new BenchmarkChildError(
      `${commandLine} ${code === null ? `was stopped after ${p.timeoutMs} ms` : `exited with ${code}`}`,
      stderr.trim().split("\n").slice(-5).join("\n"),
    );
  }
  const last = stdout.trim().split("\n").at(-1) ?? "";
  try {
    return JSON.parse(last) as T;
  } catch (error) {
    throw new BenchmarkChildError(`${commandLine} printed no JSON`, `last line: ${last}; ${error}`);
  }
}
