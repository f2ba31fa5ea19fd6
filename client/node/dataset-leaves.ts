/**
 * A dataset's Merkle leaves hashed on every core: enrolment hashes each record once (a
 * width-17 Poseidon sponge per Fashion-MNIST record, two permutations), which on one thread is
 * most of the ~30 s a 15,000-record device spends committing. The workers run the permutation
 * of protocol/proving/poseidon.ts by its source text, so both compute the same function; the
 * result feeds `commitDataset({ ..., leaves })`.
 */
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { DataValidityParameters } from "../../protocol/proving/data-validity-parameters.js";
import {
  type DatasetRecord,
  recordLeaf,
  recordLeafElements,
} from "../../protocol/proving/dataset-commitment.js";
import { POSEIDON_MAX_WIDTH, spongePermutationScript } from "../../protocol/proving/poseidon.js";

export interface HashRecordLeavesParameters {
  records: readonly DatasetRecord[];
  parameters: DataValidityParameters;
  /** Worker threads; default the available cores. */
  workers?: number;
}

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
  const workers = Math.min(parameters.workers ?? availableParallelism(), records.length);
  const elements = records.map((r) => recordLeafElements(r, parameters.parameters));
  // Narrow records hash with one small permutation each: no worker pays for itself there.
  if (workers < 2 || elements.some((e) => e.length <= POSEIDON_MAX_WIDTH - 1)) {
    return records.map((r) => recordLeaf(r, parameters.parameters));
  }
  const { instance } = spongePermutationScript();
  const size = Math.ceil(elements.length / workers);
  const slices = Array.from({ length: workers }, (_, i) =>
    elements.slice(i * size, (i + 1) * size),
  );
  const results = await Promise.all(
    slices.map(
      (batches) =>
        new Promise<bigint[]>((resolve, reject) => {
          const worker = new Worker(SPONGE_SOURCE, {
            eval: true,
            workerData: { instance, batches },
          });
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
