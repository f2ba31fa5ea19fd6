/**
 * One training-throughput case, run by `benchmarks/training.ts` as a child process of its
 * own so that its peak resident set size belongs to this backend and preset alone:
 *
 *   node --import tsx benchmarks/training/node-case.ts --backend wasm --model cnn \
 *     [--seconds 5] [--records 8192] [--batch 32] [--lr 0.05] [--seed 1]
 *
 * Prints one JSON line (a `NodeCaseResult`) on stdout; a backend that cannot load or lacks
 * a kernel the preset needs is reported as `{ "skipped": reason }`, not as a failure.
 */
import * as tf from "@tensorflow/tfjs";
import { trainLocal } from "../../client/core/train.js";
import { registerWasmGradKernels } from "../../client/core/wasm-grad-kernels/index.js";
import {
  BackendUnavailableError,
  missingTrainingKernels,
  type PreferredBackend,
  selectBackend,
} from "../../client/node/backend.js";
import { loadFashionMnist } from "../../client/node/fashion-mnist.js";
import { type Dataset, subset } from "../../protocol/data/dataset.js";
import { createModel, parseModelPreset } from "../../protocol/model/presets.js";
import { option } from "../harness.js";
import type { NodeCaseResult } from "./case-result.js";

const backend = option("backend", "wasm") as Exclude<PreferredBackend, "auto">;
const preset = parseModelPreset(option("model", "mlp"));
const seconds = Number(option("seconds", "5"));
const records = Number(option("records", "8192"));
const batchSize = Number(option("batch", "32"));
const learningRate = Number(option("lr", "0.05"));
const seed = Number(option("seed", "1"));
const PROBE_BATCHES = 4;

const mebibytes = (bytes: number) => bytes / 2 ** 20;

function emit(result: NodeCaseResult): void {
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

try {
  await selectBackend({ preferred: backend });
} catch (error) {
  if (!(error instanceof BackendUnavailableError)) throw error;
  emit({ backend, model: preset, skipped: error.shortMessage });
  process.exit(0);
}
// Only after the backend has loaded: importing tfjs-backend-wasm registers its built-ins,
// which would replace kernels registered before it.
if (backend === "wasm") registerWasmGradKernels();
const missing = missingTrainingKernels(preset, backend);
if (missing.length > 0) {
  emit({ backend, model: preset, skipped: `missing kernels ${missing.join(", ")}` });
  process.exit(0);
}

const data = await loadFashionMnist({ split: "train", limit: records });
const rssBeforeModelMiB = mebibytes(process.memoryUsage().rss);
const model = createModel(preset, data.schema, seed);
const first = (count: number): Dataset =>
  subset(
    data,
    Array.from({ length: Math.min(count, data.size) }, (_, i) => i),
  );
const train = (dataset: Dataset, epochs = 1) =>
  trainLocal({ model, data: dataset, epochs, batchSize, learningRate, seed });

// Warm-up (kernel compilation, wasm heap growth), then a probe that sizes the timed run.
// A case so slow that the warm-up batch alone shows the probe would overrun (the cpu
// backend's conv nets, a few samples/s) is sized from the warm-up instead.
const warmUp = await train(first(batchSize));
const probe =
  warmUp.samplesPerSecond * seconds < 2 * PROBE_BATCHES * batchSize
    ? warmUp
    : await train(first(PROBE_BATCHES * batchSize));
const wanted = Math.max(1, Math.floor((probe.samplesPerSecond * seconds) / batchSize)) * batchSize;
// Whole epochs over at most `records` records: repeated epochs rather than more data, so
// that the dataset's share of the resident set is the same for every case.
const timedData = first(Math.min(wanted, data.size));
const epochs = Math.max(1, Math.round(wanted / timedData.size));
const cpuStart = process.cpuUsage();
const timed = await train(timedData, epochs);
const cpu = process.cpuUsage(cpuStart);
const cpuSeconds = (cpu.user + cpu.system) / 1e6;
const samples = timed.samples * epochs;
emit({
  backend: tf.getBackend(),
  model: preset,
  parameters: model.countParams(),
  batchSize,
  samples,
  seconds: timed.seconds,
  samplesPerSecond: timed.samplesPerSecond,
  samplesPerCpuSecond: cpuSeconds > 0 ? samples / cpuSeconds : null,
  loss: timed.loss,
  rssBeforeModelMiB,
  // Linux reports maxRSS in KiB.
  peakRssMiB: process.resourceUsage().maxRSS / 1024,
});
model.dispose();
// The wasm runtime can keep the event loop alive.
process.exit(0);
