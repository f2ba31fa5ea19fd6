/**
 * A dataset's Merkle leaves hashed on every core: enrolment hashes each record once (a
 * width-17 Poseidon sponge per Fashion-MNIST record, two permutations), most of what a
 * 15,000-record device spends committing. The workers instantiate the WebAssembly permutation
 * protocol/proving/poseidon.ts compiled (the module itself is sent) and run its sponge helpers
 * by their source text, so both threads compute the same function; without WebAssembly they run
 * the BigInt permutation the same way. The result feeds `commitDataset({ ..., leaves })`.
 */
import { Worker } from "node:worker_threads";
import type { DataValidityParameters } from "../../protocol/proving/data-validity-parameters.js";
import {
  type DatasetRecord,
  recordLeaf,
  recordLeafElements,
} from "../../protocol/proving/dataset-commitment.js";
import {
  POSEIDON_MAX_WIDTH,
  poseidonWasmPermutation,
  SPONGE_RATE,
  spongePermutationScript,
} from "../../protocol/proving/poseidon.js";
import {
  loadStateElement,
  POSEIDON_WASM_SCRIPT_CONSTANTS,
  readElement,
  readStateElement,
  spongeWasm,
  writeElement,
} from "../../protocol/proving/poseidon-wasm.js";
import { deviceCores } from "./device-cores.js";

export interface HashRecordLeavesParameters {
  records: readonly DatasetRecord[];
  parameters: DataValidityParameters;
  /** Worker threads; default the cores the device may use (`deviceCores`). */
  workers?: number;
}

const WASM_SPONGE_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
${POSEIDON_WASM_SCRIPT_CONSTANTS}
${[writeElement, readElement, loadStateElement, readStateElement, spongeWasm].map(String).join("\n")}
const exports = new WebAssembly.Instance(workerData.module).exports;
const words = new Uint32Array(exports.memory.buffer);
parentPort.postMessage(workerData.batches.map((elements) => spongeWasm(exports, words, elements)));
`;

const SPONGE_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
${spongePermutationScript().source}
const instance = workerData.instance;
function sponge(elements) {
  const state = new Array(17).fill(0n);
  state[0] = BigInt(elements.length);
  for (let start = 0; start < elements.length; start += 16) {
    for (let j = 0; j < 16; j++) {
      const element = elements[start + j];
      if (element !== undefined) state[j + 1] = (state[j + 1] + (element % P)) % P;
    }
    permuteInPlace(instance, state);
  }
  return state[0];
}
parentPort.postMessage(workerData.batches.map(sponge));
`;

/** `records.map(r => recordLeaf(r, parameters))`, on worker threads when it pays. */
export async function hashRecordLeaves(parameters: HashRecordLeavesParameters): Promise<bigint[]> {
  const { records } = parameters;
  const workers = Math.min(parameters.workers ?? deviceCores(), records.length);
  const elements = records.map((r) => recordLeafElements(r, parameters.parameters));
  // Narrow records hash with one small permutation each: no worker pays for itself there.
  if (workers < 2 || elements.some((e) => e.length <= POSEIDON_MAX_WIDTH - 1)) {
    return records.map((r) => recordLeaf(r, parameters.parameters));
  }
  const wasm = poseidonWasmPermutation(SPONGE_RATE + 1);
  const { instance } = spongePermutationScript();
  const size = Math.ceil(elements.length / workers);
  const slices = Array.from({ length: workers }, (_, i) =>
    elements.slice(i * size, (i + 1) * size),
  );
  const results = await Promise.all(
    slices.map(
      (batches) =>
        new Promise<bigint[]>((resolve, reject) => {
          const worker = wasm
            ? new Worker(WASM_SPONGE_SOURCE, {
                eval: true,
                workerData: { module: wasm.module, batches },
              })
            : new Worker(SPONGE_SOURCE, { eval: true, workerData: { instance, batches } });
          worker.once("message", (leaves: bigint[]) => {
            resolve(leaves);
            void worker.terminate();
          });
          worker.once("error", reject);
          worker.once("exit", (code) => {
            if (code !== 0) reject(new Error(`leaf hashing worker exited with code ${code}`));
          });
        }),
    ),
  );
  return results.flat();
}
