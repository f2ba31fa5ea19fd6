import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import type { CircuitInput } from "snarkjs";
import {
  ProofGenerationError,
  type ProofWithSignals,
  type Prover,
} from "../core/proving/prove-groth16.js";

const require = createRequire(import.meta.url);

export interface CreateWorkerProverParameters {
  /** Witness generator: bytes or a file path. */
  wasm: Uint8Array | string;
  /** Proving key: bytes or a file path. */
  zkey: Uint8Array | string;
}

export interface WorkerProver {
  prove: Prover;
  /** Stops the worker thread (and snarkjs's own threads inside it). */
  close(): Promise<void>;
}

/**
 * The worker's body, plain CommonJS evaluated in the thread. It is a string rather than a
 * .ts module because a worker thread does not inherit the TypeScript loader the parent runs
 * under (tsx, vitest); snarkjs is loaded from the path the parent resolved.
 *
 * snarkjs's curve code (ffjavascript) starts its own thread pool through the \`web-worker\`
 * package, which picks its role when first loaded: in any thread but the main one it acts as
 * the inside of a pool thread, and the pool cannot start. Loading it once with
 * \`isMainThread\` set gives this thread the pool-owner role it needs; the pool's own threads
 * load it afresh and take the other role as usual.
 */
const WORKER_SOURCE = `
const threads = require("node:worker_threads");
const { parentPort, workerData } = threads;
const isMainThread = threads.isMainThread;
threads.isMainThread = true;
try {
  require(workerData.webWorkerPath);
} finally {
  threads.isMainThread = isMainThread;
}
const snarkjs = require(workerData.snarkjsPath);
const wasm = { type: "mem", data: workerData.wasm };
const zkey = { type: "mem", data: workerData.zkey };
parentPort.on("message", async ({ id, input }) => {
  try {
    const { proof, publicSignals } = await snarkjs.groth16.fullProve(input, wasm, zkey);
    parentPort.postMessage({ id, ok: true, proof, publicSignals });
  } catch (error) {
    parentPort.postMessage({ id, ok: false, message: error && error.message ? error.message : String(error) });
  }
});
`;

type WorkerReply =
  | ({ id: number; ok: true } & ProofWithSignals)
  | { id: number; ok: false; message: string };

/**
 * A prover on a worker thread: witness generation and the Groth16 MSMs take seconds of CPU
 * per chunk, and on the main thread they would stall every gRPC stream and timer the device
 * has open. One worker proves one input at a time; queue as many as you like.
 */
export async function createWorkerProver(
  parameters: CreateWorkerProverParameters,
): Promise<WorkerProver> {
  const load = async (file: Uint8Array | string) =>
    typeof file === "string" ? new Uint8Array(await readFile(file)) : file;
  const [wasm, zkey] = await Promise.all([load(parameters.wasm), load(parameters.zkey)]);
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: {
      snarkjsPath: require.resolve("snarkjs"),
      webWorkerPath: createRequire(require.resolve("ffjavascript")).resolve("web-worker"),
      wasm,
      zkey,
    },
  });
  const pending = new Map<
    number,
    { resolve: (value: ProofWithSignals) => void; reject: (error: unknown) => void }
  >();
  let nextId = 0;
  const failAll = (error: unknown) => {
    for (const { reject } of pending.values()) reject(error);
    pending.clear();
  };
  worker.on("message", (reply: WorkerReply) => {
    const waiter = pending.get(reply.id);
    if (!waiter) return;
    pending.delete(reply.id);
    if (reply.ok) waiter.resolve({ proof: reply.proof, publicSignals: reply.publicSignals });
    else
      waiter.reject(
        new ProofGenerationError(
          "the witness does not satisfy the circuit",
          new Error(reply.message),
        ),
      );
  });
  worker.on("error", failAll);
  worker.on("exit", (code) =>
    failAll(new ProofGenerationError(`prover worker exited with code ${code}`)),
  );
  return {
    prove: (input: CircuitInput) =>
      new Promise<ProofWithSignals>((resolve, reject) => {
        const id = nextId++;
        pending.set(id, { resolve, reject });
        worker.postMessage({ id, input });
      }),
    close: async () => {
      await worker.terminate();
    },
  };
}
