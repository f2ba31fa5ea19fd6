/**
 * `buildCircuits` on a worker thread. Compiling a circuit, generating a development powers of
 * tau and the Groth16 setup take minutes of CPU for a real schema (a 2^18 setup for the
 * Fashion-MNIST data circuit); on the coordinator's main thread they froze every open stream
 * and call for that long, and clients dropped the connection when their keepalive pings went
 * unanswered. The artifacts land in the same content-addressed cache either way.
 */
import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { FedproofError, type FedproofErrorCode } from "../common/errors.js";
import { SNARKJS_WORKER_PRELUDE, webWorkerPath } from "../common/snarkjs-worker-prelude.js";
import type { BuildCircuitsParameters, BuildCircuitsReturnType, BuildLogger } from "./build.js";

const require = createRequire(import.meta.url);

type WorkerMessage =
  | { kind: "log"; level: "info" | "warn"; message: string }
  | { kind: "done"; result: BuildCircuitsReturnType }
  | { kind: "failed"; failure: BuildFailure };

interface BuildFailure {
  name: string;
  message: string;
  stack?: string;
  /** Set when the build threw a FedproofError: its code decides the caller's gRPC status. */
  code?: FedproofErrorCode;
  shortMessage?: string;
  details?: string;
}

/**
 * The worker loads the TypeScript sources through tsx's loader (a worker thread does not
 * inherit the parent's), then runs the same `buildCircuits` and sends its log lines back.
 */
const WORKER_SOURCE = `
${SNARKJS_WORKER_PRELUDE}
(async () => {
  const { register } = await import(workerData.tsxApi);
  register();
  const { buildCircuits } = await import(workerData.buildModule);
  const log = (level) => (message) => parentPort.postMessage({ kind: "log", level, message: String(message) });
  const result = await buildCircuits({ ...workerData.parameters, logger: { info: log("info"), warn: log("warn") } });
  parentPort.postMessage({ kind: "done", result });
})().catch((error) => {
  const e = error || {};
  parentPort.postMessage({
    kind: "failed",
    failure: {
      name: e.name || "Error",
      message: e.message || String(error),
      stack: e.stack,
      code: typeof e.code === "string" && typeof e.shortMessage === "string" ? e.code : undefined,
      shortMessage: e.shortMessage,
      details: e.details,
    },
  });
});
`;

export async function buildCircuitsOffThread(
  parameters: BuildCircuitsParameters,
): Promise<BuildCircuitsReturnType> {
  const { logger, ...rest } = parameters;
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: {
      webWorkerPath: webWorkerPath(),
      // The ESM entry of tsx/esm/api, whose `register` installs the loader for import().
      tsxApi: pathToFileURL(
        path.join(path.dirname(require.resolve("tsx/package.json")), "dist/esm/api/index.mjs"),
      ).href,
      buildModule: new URL("./build.ts", import.meta.url).href,
      parameters: rest,
    },
  });
  try {
    return await new Promise<BuildCircuitsReturnType>((resolve, reject) => {
      worker.on("message", (message: WorkerMessage) => {
        if (message.kind === "log") logTo(logger, message.level, message.message);
        else if (message.kind === "done") resolve(message.result);
        else reject(rebuiltError(message.failure));
      });
      worker.once("error", reject);
      worker.once("exit", (code) =>
        reject(new Error(`the circuit build thread exited (code ${code}) before it finished`)),
      );
    });
  } finally {
    await worker.terminate();
  }
}

function logTo(logger: BuildLogger | undefined, level: "info" | "warn", message: string): void {
  if (level === "warn") logger?.warn(message);
  else logger?.info(message);
}

/**
 * The error as the caller would have seen it in-thread: a FedproofError keeps its name, code,
 * message and details (so a refused build is still INVALID_ARGUMENT or FAILED_PRECONDITION to
 * a gRPC client); anything else stays an internal error with its message and stack.
 */
function rebuiltError(failure: BuildFailure): Error {
  const error =
    failure.code && failure.shortMessage !== undefined
      ? new FedproofError(failure.shortMessage, { details: failure.details, code: failure.code })
      : new Error(failure.message);
  Object.defineProperty(error, "name", { value: failure.name });
  if (failure.stack) error.stack = failure.stack;
  return error;
}
