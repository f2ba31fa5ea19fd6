import { trainLocal } from "../../client/core/train.js";
import { registerWasmGradKernels } from "../../client/core/wasm-grad-kernels/index.js";
import {
  BackendUnavailableError,
  missingTrainingKernels,
  selectBackend,
} from "../../client/node/backend.js";
import { type Dataset, subset } from "../../protocol/data/dataset.js";
import { createModel, MODEL_PRESETS, type ModelPreset } from "../../protocol/model/presets.js";

export type TrainingBackendName = "tensorflow" | "wasm" | "cpu";

export interface MeasureTrainingThroughputParameters {
  /** Training records to draw from (the first records are used). */
  data: Dataset;
  /** Target length of each timed run; the record count is sized from a probe to fit it. */
  secondsPerCase: number;
  batchSize: number;
  backends?: readonly TrainingBackendName[];
  presets?: readonly ModelPreset[];
  seed?: number;
  onProgress?: (line: string) => void;
}

export interface TrainingThroughputRow {
  backend: string;
  model: ModelPreset;
  parameters: number;
  batchSize: number;
  /** Records in the timed run (one epoch). */
  samples: number;
  seconds: number;
  samplesPerSecond: number;
  /** Samples per second of CPU time this process used: less sensitive to a busy machine. */
  samplesPerCpuSecond: number;
  /** Mean training loss of the timed epoch, to show the step actually learned something. */
  loss: number;
}

export interface SkippedCase {
  backend: string;
  model?: ModelPreset;
  reason: string;
}

export interface MeasureTrainingThroughputReturnType {
  rows: TrainingThroughputRow[];
  skipped: SkippedCase[];
}

/** Whole batches only, so that no short last batch skews the rate. */
const MIN_BATCHES = 1;
const MAX_SAMPLES = 8192;

/**
 * Local-training throughput of each preset on each backend, through the same `trainLocal`
 * a device runs (batch assembly, SGD step, loss read back every batch). Each case gets a
 * warm-up batch, a one-batch probe that sizes the timed run to about `secondsPerCase`, and
 * the timed epoch itself, so a fast backend is not measured on a handful of batches and a
 * slow one (cpu cnn, a few samples/s) does not take minutes.
 */
export async function measureTrainingThroughput(
  p: MeasureTrainingThroughputParameters,
): Promise<MeasureTrainingThroughputReturnType> {
  const backends = p.backends ?? ["tensorflow", "wasm", "cpu"];
  const presets = p.presets ?? MODEL_PRESETS;
  const seed = p.seed ?? 1;
  const log = p.onProgress ?? (() => {});
  const rows: TrainingThroughputRow[] = [];
  const skipped: SkippedCase[] = [];
  for (const backend of backends) {
    try {
      await selectBackend({ preferred: backend });
    } catch (error) {
      if (!(error instanceof BackendUnavailableError)) throw error;
      skipped.push({ backend, reason: error.shortMessage });
      log(`training: ${backend} skipped (${error.shortMessage})`);
      continue;
    }
    // Without these kernels the wasm backend cannot train a conv net at all. Only after
    // selectBackend: importing tfjs-backend-wasm registers its built-ins, which would
    // silently replace kernels registered before it, and the matmul wrappers need them.
    if (backend === "wasm") registerWasmGradKernels();
    for (const preset of presets) {
      const missing = missingTrainingKernels(preset, backend);
      if (missing.length > 0) {
        skipped.push({ backend, model: preset, reason: `missing kernels ${missing.join(", ")}` });
        continue;
      }
      const row = await measureCase(p, backend, preset, seed);
      rows.push(row);
      log(
        `training: ${backend} ${preset} ${Math.round(row.samplesPerSecond)} samples/s (${row.samples} samples in ${row.seconds.toFixed(1)} s)`,
      );
    }
  }
  return { rows, skipped };
}

async function measureCase(
  p: MeasureTrainingThroughputParameters,
  backend: string,
  preset: ModelPreset,
  seed: number,
): Promise<TrainingThroughputRow> {
  const model = createModel(preset, p.data.schema, seed);
  const first = (count: number) =>
    subset(
      p.data,
      Array.from({ length: Math.min(count, p.data.size) }, (_, i) => i),
    );
  const train = (data: Dataset) =>
    trainLocal({ model, data, epochs: 1, batchSize: p.batchSize, learningRate: 0.05, seed });
  try {
    const oneBatch = first(p.batchSize);
    await train(oneBatch);
    const probe = await train(oneBatch);
    const batches = Math.max(
      MIN_BATCHES,
      Math.floor((probe.samplesPerSecond * p.secondsPerCase) / p.batchSize),
    );
    const data = first(Math.min(MAX_SAMPLES, batches * p.batchSize));
    const cpuStart = process.cpuUsage();
    const timed = await train(data);
    const cpu = process.cpuUsage(cpuStart);
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    return {
      backend,
      model: preset,
      parameters: model.countParams(),
      batchSize: p.batchSize,
      samples: timed.samples,
      seconds: timed.seconds,
      samplesPerSecond: timed.samplesPerSecond,
      samplesPerCpuSecond: cpuSeconds > 0 ? timed.samples / cpuSeconds : Number.NaN,
      loss: timed.loss,
    };
  } finally {
    model.dispose();
  }
}
