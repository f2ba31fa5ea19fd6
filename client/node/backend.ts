import { createRequire } from "node:module";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { FedproofError, InvalidArgumentError } from "../../common/errors.js";

export { backendSupportsTraining, missingTrainingKernels } from "../core/model/kernel-support.js";

export type PreferredBackend = "auto" | "tensorflow" | "wasm" | "cpu";

export interface SelectBackendParameters {
  /** Default "auto": tensorflow when installed, else wasm, else cpu. */
  preferred?: PreferredBackend;
  /** WebAssembly thread pool size; only takes effect where tfjs enables threads (not Node). */
  threads?: number;
}

export interface SelectBackendReturnType {
  /** tfjs backend name now active: "tensorflow", "wasm" or "cpu". */
  backend: string;
  /** Why this backend, for logs and `--json` output. */
  reason: string;
}

/** The requested backend cannot run on this machine; the caller must install or choose. */
export class BackendUnavailableError extends FedproofError {
  override name = "BackendUnavailableError";
  constructor(shortMessage: string, parameters: { details?: string; cause?: unknown } = {}) {
    super(shortMessage, { ...parameters, code: "FAILED_PRECONDITION" });
  }
}

/**
 * Computed so that neither TypeScript nor a bundler insists on the optional native backend;
 * it is an accelerator, not a dependency.
 */
const TFJS_NODE_SPECIFIER = ["@tensorflow", "tfjs-node"].join("/");

/**
 * Picks and activates the fastest tfjs backend this process can run. Safe to call again:
 * each backend is loaded once, and re-selecting the active one is a no-op.
 */
export async function selectBackend(
  p: SelectBackendParameters = {},
): Promise<SelectBackendReturnType> {
  const preferred = p.preferred ?? "auto";
  if (p.threads !== undefined && (!Number.isInteger(p.threads) || p.threads < 1)) {
    throw new InvalidArgumentError(`threads must be a positive integer, got ${p.threads}`);
  }
  switch (preferred) {
    case "tensorflow":
      await activateTensorflow();
      return { backend: "tensorflow", reason: "requested; @tensorflow/tfjs-node is installed" };
    case "wasm":
      return { backend: "wasm", reason: `requested; ${await activateWasm(p.threads)}` };
    case "cpu":
      await activate("cpu");
      return { backend: "cpu", reason: "requested (plain JavaScript kernels)" };
    case "auto":
      break;
    default:
      throw new InvalidArgumentError(
        `unknown backend "${String(preferred)}": expected auto, tensorflow, wasm or cpu`,
      );
  }

  const skipped: string[] = [];
  try {
    await activateTensorflow();
    return {
      backend: "tensorflow",
      reason: "@tensorflow/tfjs-node is installed (native TensorFlow)",
    };
  } catch (error) {
    skipped.push(`tensorflow: ${describe(error)}`);
  }
  try {
    const detail = await activateWasm(p.threads);
    return { backend: "wasm", reason: `${detail}; skipped ${skipped.join("; ")}` };
  } catch (error) {
    skipped.push(`wasm: ${describe(error)}`);
  }
  await activate("cpu");
  return {
    backend: "cpu",
    reason: `fallback to JavaScript kernels; skipped ${skipped.join("; ")}`,
  };
}

let tensorflowLoaded: Promise<void> | undefined;

async function activateTensorflow(): Promise<void> {
  tensorflowLoaded ??= import(TFJS_NODE_SPECIFIER).then(
    () => undefined,
    (error: unknown) => {
      tensorflowLoaded = undefined;
      throw new BackendUnavailableError("@tensorflow/tfjs-node is not installed", {
        details: "install it with `npm install @tensorflow/tfjs-node`, or choose wasm or cpu",
        cause: error,
      });
    },
  );
  await tensorflowLoaded;
  await activate("tensorflow");
}

let wasmLoaded: Promise<string> | undefined;

/** Loads the WebAssembly backend once, pointing it at the binaries inside node_modules. */
async function activateWasm(threads: number | undefined): Promise<string> {
  wasmLoaded ??= (async () => {
    const wasm = await import("@tensorflow/tfjs-backend-wasm");
    const require = createRequire(import.meta.url);
    // The package's main file sits in dist/, next to the .wasm binaries; in Node the
    // binaries are read from this directory, not fetched.
    const distDirectory = path.dirname(require.resolve("@tensorflow/tfjs-backend-wasm"));
    wasm.setWasmPaths(`${distDirectory}${path.sep}`);
    // Must precede initialisation; tfjs ignores it where WebAssembly threads are off.
    if (threads !== undefined) wasm.setThreadsCount(threads);
    return `WebAssembly backend from ${distDirectory}`;
  })().catch((error: unknown) => {
    wasmLoaded = undefined;
    throw new BackendUnavailableError("@tensorflow/tfjs-backend-wasm could not be loaded", {
      cause: error,
    });
  });
  const detail = await wasmLoaded;
  await activate("wasm");
  return detail;
}

async function activate(backend: string): Promise<void> {
  if (tf.getBackend() === backend) return;
  let ok: boolean;
  try {
    ok = await tf.setBackend(backend);
  } catch (error) {
    throw new BackendUnavailableError(`the ${backend} backend failed to initialise`, {
      cause: error,
    });
  }
  if (!ok) throw new BackendUnavailableError(`the ${backend} backend failed to initialise`);
  await tf.ready();
}

function describe(error: unknown): string {
  if (error instanceof FedproofError) return error.shortMessage;
  return error instanceof Error ? error.message : String(error);
}
