/**
 * A pool of prover worker threads for one circuit. The chunks of an update are independent
 * proofs (the verifier chains them through their public running sums), so a device with
 * several cores proves several at once. Each worker keeps the proving key and a compiled
 * witness generator loaded for its whole life, so a round pays neither a re-read nor a
 * re-compilation per chunk.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { totalmem } from "node:os";
import { Worker } from "node:worker_threads";
import type { CircuitInput } from "snarkjs";
import { InvalidArgumentError } from "../../common/errors.js";
import { SNARKJS_WORKER_PRELUDE, webWorkerPath } from "../../common/snarkjs-worker-prelude.js";
import {
  ProofGenerationError,
  type ProofWithSignals,
  type Prover,
} from "../../protocol/proving/prove-groth16.js";
import { deviceCores } from "./device-cores.js";

const require = createRequire(import.meta.url);

/** Environment variable: memory the device lets its provers use at once, in MB. */
export const PROVER_MEMORY_ENV = "FEDPROOF_PROVER_MEMORY_MB";

export interface CreateProverPoolParameters {
  /** Witness generator: bytes or a file path. */
  wasm: Uint8Array | string;
  /** Proving key: bytes or a file path. */
  zkey: Uint8Array | string;
  /**
   * Workers; default `proverPoolSize` of the cores ($FEDPROOF_DEVICE_CORES, else all), the
   * memory budget and the key. With more than one worker each proves on one thread (the pool
   * is the parallelism); a single worker lets snarkjs spread one proof over the cores, unless
   * the process may use only one.
   */
  size?: number;
  /** Memory budget in MB; default $FEDPROOF_PROVER_MEMORY_MB, else half the machine's RAM. */
  memoryBudgetMB?: number;
  /**
   * TESTS ONLY: derive each proof's blinding factors (r, s) from a hash of its input instead
   * of the CSPRNG, so that two runs (one worker and a pool, say) give byte-identical proofs of
   * the same input. A device must draw fresh blinding for every proof.
   */
  insecureDeterministicBlinding?: boolean;
}

export interface ProverPool {
  prove: Prover;
  /** Workers in the pool. */
  size: number;
  /** Stops every worker thread (and snarkjs's threads inside them). */
  close(): Promise<void>;
}

/**
 * Peak memory of one snarkjs Groth16 prove, estimated from its proving key: ~700 MB for the
 * 45 MB key of a 2^16 chunk circuit (benchmarks/results/proofs.json), i.e. ~15× the key plus
 * the runtime's own ~60 MB.
 */
export function estimateProofMemoryMB(zkeyBytes: number): number {
  return Math.ceil(60 + 15 * (zkeyBytes / 2 ** 20));
}

export interface ProverPoolSizeParameters {
  zkeyBytes: number;
  memoryBudgetMB?: number;
  cores?: number;
}

/** As many workers as there are cores, but no more than the memory budget holds; at least 1. */
export function proverPoolSize(parameters: ProverPoolSizeParameters): number {
  const cores = parameters.cores ?? deviceCores();
  const budget = parameters.memoryBudgetMB ?? defaultMemoryBudgetMB();
  if (!(budget > 0))
    throw new InvalidArgumentError(`prover memory budget must be > 0 MB, got ${budget}`);
  const byMemory = Math.floor(budget / estimateProofMemoryMB(parameters.zkeyBytes));
  return Math.max(1, Math.min(cores, byMemory));
}

function defaultMemoryBudgetMB(): number {
  const configured = process.env[PROVER_MEMORY_ENV];
  if (configured !== undefined && configured !== "") {
    const value = Number(configured);
    if (!(value > 0)) {
      throw new InvalidArgumentError(
        `${PROVER_MEMORY_ENV} must be a positive number of MB, got "${configured}"`,
      );
    }
    return value;
  }
  return totalmem() / 2 ** 20 / 2;
}

/**
 * The worker's body, plain CommonJS evaluated in the thread. It is a string rather than a
 * .ts module because a worker thread does not inherit the TypeScript loader the parent runs
 * under (tsx, vitest); snarkjs and its own copies of circom_runtime and ffjavascript are
 * loaded from the paths the parent resolved.
 *
 * The prelude lets snarkjs start its own thread pool from this thread (see
 * snarkjs-worker-prelude.ts). A single-threaded worker instead installs a single-threaded
 * curve where snarkjs looks for its cached one.
 *
 * Proving = the witness generator (compiled once) + snarkjs `groth16.prove` on the in-memory
 * key: exactly what `groth16.fullProve` does, without recompiling the wasm per proof.
 */
const WORKER_SOURCE = `
${SNARKJS_WORKER_PRELUDE}
const snarkjs = require(workerData.snarkjsPath);
const ffjavascript = require(workerData.ffjavascriptPath);
const { WitnessCalculatorBuilder } = require(workerData.circomRuntimePath);
const zkey = { type: "mem", data: workerData.zkey };
let deterministicRng = null;
if (workerData.insecureDeterministicBlinding) {
  // snarkjs draws r and s with Fr.random(), from ffjavascript's per-thread ChaCha stream;
  // route that stream to one seeded by the proof's input for the length of each proof.
  const nextU32 = ffjavascript.ChaCha.prototype.nextU32;
  ffjavascript.ChaCha.prototype.nextU32 = function () {
    return deterministicRng && this !== deterministicRng ? deterministicRng.nextU32() : nextU32.call(this);
  };
}
const ready = (async () => {
  if (workerData.singleThread) globalThis.curve_bn128 = await ffjavascript.buildBn128(true);
  return WitnessCalculatorBuilder(workerData.wasm);
})();
let queue = Promise.resolve();
parentPort.on("message", (message) => {
  queue = queue.then(async () => {
    const { id, input, seed } = message;
    try {
      const calculator = await ready;
      deterministicRng = seed ? new ffjavascript.ChaCha(seed) : null;
      const witness = await calculator.calculateWTNSBin(ffjavascript.utils.unstringifyBigInts(input));
      const { proof, publicSignals } = await snarkjs.groth16.prove(zkey, { type: "mem", data: witness });
      parentPort.postMessage({ id, ok: true, proof, publicSignals });
    } catch (error) {
      parentPort.postMessage({ id, ok: false, message: error && error.message ? error.message : String(error) });
    }
  });
});
`;

type WorkerReply =
  | ({ id: number; ok: true } & ProofWithSignals)
  | { id: number; ok: false; message: string };

interface Job {
  input: CircuitInput;
  resolve: (value: ProofWithSignals) => void;
  reject: (error: unknown) => void;
}

interface PoolWorker {
  worker: Worker;
  busy: Job | undefined;
  dead: boolean;
}

const load = async (file: Uint8Array | string) =>
  typeof file === "string" ? new Uint8Array(await readFile(file)) : file;

/**
 * Starts `size` prover workers sharing one queue: `prove` hands an input to the first idle
 * worker and resolves with its proof, so callers may queue every chunk of a round at once and
 * collect the proofs in chunk order. Proofs are the same as one worker's, whatever the size.
 */
export async function createProverPool(
  parameters: CreateProverPoolParameters,
): Promise<ProverPool> {
  const [wasm, zkey] = await Promise.all([load(parameters.wasm), load(parameters.zkey)]);
  const size =
    parameters.size ??
    proverPoolSize({ zkeyBytes: zkey.byteLength, memoryBudgetMB: parameters.memoryBudgetMB });
  if (!Number.isInteger(size) || size < 1) {
    throw new InvalidArgumentError(`prover pool size must be a positive integer, got ${size}`);
  }
  const snarkjsPath = require.resolve("snarkjs");
  const fromSnarkjs = createRequire(snarkjsPath);
  const ffjavascriptPath = fromSnarkjs.resolve("ffjavascript");
  const workerData = {
    snarkjsPath,
    ffjavascriptPath,
    circomRuntimePath: fromSnarkjs.resolve("circom_runtime"),
    webWorkerPath: webWorkerPath(),
    wasm,
    zkey,
    // One thread per worker when there are several (the pool is the parallelism) or when the
    // process may use a single core; a lone worker on several cores lets snarkjs use them all.
    singleThread: size > 1 || deviceCores() === 1,
    insecureDeterministicBlinding: parameters.insecureDeterministicBlinding === true,
  };
  const queue: Job[] = [];
  let closed = false;
  const workers: PoolWorker[] = [];
  const dispatch = () => {
    for (const slot of workers) {
      if (slot.dead || slot.busy || queue.length === 0) continue;
      const job = queue.shift()!;
      slot.busy = job;
      const seed = workerData.insecureDeterministicBlinding
        ? Array.from(
            new Uint32Array(
              Uint8Array.from(createHash("sha256").update(JSON.stringify(job.input)).digest())
                .buffer,
            ),
          )
        : undefined;
      slot.worker.postMessage({ id: 0, input: job.input, seed });
    }
  };
  const fail = (slot: PoolWorker, error: unknown) => {
    const job = slot.busy;
    slot.busy = undefined;
    slot.dead = true;
    job?.reject(error);
    // A worker that dies (out of memory, usually) fails what is queued rather than leaving
    // it to the others, which are likely to meet the same fate; later proves go to the living.
    for (const waiting of queue.splice(0)) waiting.reject(error);
  };
  for (let i = 0; i < size; i++) {
    const slot: PoolWorker = {
      worker: new Worker(WORKER_SOURCE, { eval: true, workerData }),
      busy: undefined,
      dead: false,
    };
    slot.worker.on("message", (reply: WorkerReply) => {
      const job = slot.busy;
      if (!job) return;
      slot.busy = undefined;
      if (reply.ok) job.resolve({ proof: reply.proof, publicSignals: reply.publicSignals });
      else
        job.reject(
          new ProofGenerationError(
            "the witness does not satisfy the circuit",
            new Error(reply.message),
          ),
        );
      dispatch();
    });
    slot.worker.on("error", (error) => fail(slot, error));
    slot.worker.on("exit", (code) => {
      if (!closed) fail(slot, new ProofGenerationError(`prover worker exited with code ${code}`));
    });
    workers.push(slot);
  }
  return {
    size,
    prove: (input: CircuitInput) =>
      new Promise<ProofWithSignals>((resolve, reject) => {
        if (closed || workers.every((slot) => slot.dead)) {
          reject(new ProofGenerationError("the prover pool is closed or its workers died"));
          return;
        }
        queue.push({ input, resolve, reject });
        dispatch();
      }),
    close: async () => {
      closed = true;
      const error = new ProofGenerationError("the prover pool was closed");
      for (const slot of workers) if (slot.busy) fail(slot, error);
      for (const waiting of queue.splice(0)) waiting.reject(error);
      await Promise.all(workers.map((slot) => slot.worker.terminate()));
    },
  };
}
