/**
 * snarkjs in a worker thread. Its curve code (ffjavascript) starts its own thread pool through
 * the `web-worker` package, which picks its role when first loaded: in any thread but the main
 * one it acts as the inside of a pool thread, and the pool cannot start. Loading it once with
 * `isMainThread` set gives the worker the pool-owner role it needs; the pool's own threads load
 * it afresh and take the other role as usual.
 *
 * `SNARKJS_WORKER_PRELUDE` is CommonJS source for an `eval` worker; it expects
 * `workerData.webWorkerPath` (from `webWorkerPath()`) and defines `threads`, `parentPort` and
 * `workerData`.
 */
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

export const SNARKJS_WORKER_PRELUDE = `
const threads = require("node:worker_threads");
const { parentPort, workerData } = threads;
{
  const isMainThread = threads.isMainThread;
  threads.isMainThread = true;
  try {
    require(workerData.webWorkerPath);
  } finally {
    threads.isMainThread = isMainThread;
  }
}
`;

/** The `web-worker` module snarkjs's ffjavascript loads, for the prelude. */
export function webWorkerPath(): string {
  const fromSnarkjs = createRequire(require.resolve("snarkjs"));
  return createRequire(fromSnarkjs.resolve("ffjavascript")).resolve("web-worker");
}
