import type { CircuitInput } from "snarkjs";
import { syntheticDataset } from "../../../client/core/data/synthetic.js";
import { trainLocal } from "../../../client/core/train.js";
import { createModel, parseModelPreset } from "../../../protocol/model/presets.js";
import { createBrowserProver } from "../device/browser-prover.js";
import { selectWebBackend, type WebBackend } from "../device/web-backend.js";

/**
 * What benchmarks/browser.ts drives through `window.fedproofBench` (route #/bench, loaded only
 * there): the device's own proving path (snarkjs in a Web Worker) and its training loop, so the
 * numbers are those of the device page.
 */

export function useBackend(preferred: WebBackend): Promise<string> {
  return selectWebBackend(preferred);
}

export interface BenchTrainParameters {
  preset: string;
  features: number;
  classes: number;
  records: number;
  batchSize: number;
  epochs: number;
}

/** Samples/s of local training, after one warm-up batch (kernel compilation, heap growth). */
export async function benchTrain(parameters: BenchTrainParameters): Promise<number> {
  const dataset = (samples: number, seed: number) =>
    syntheticDataset({
      samples,
      seed,
      features: parameters.features,
      classes: parameters.classes,
    });
  const data = dataset(parameters.records, 1);
  const model = createModel(parseModelPreset(parameters.preset), data.schema, 1);
  const train = (records: typeof data, epochs: number) =>
    trainLocal({
      model,
      data: records,
      epochs,
      batchSize: parameters.batchSize,
      learningRate: 0.05,
      seed: 1,
    });
  await train(dataset(parameters.batchSize, 2), 1);
  const timed = await train(data, parameters.epochs);
  model.dispose();
  return timed.samplesPerSecond;
}

/**
 * Seconds per proof for each input after the first (the warm-up: the worker builds its curve
 * and compiles the witness generator), through the same Web Worker the device page proves in.
 */
export async function benchProve(parameters: {
  wasmUrl: string;
  zkeyUrl: string;
  inputs: CircuitInput[];
}): Promise<number[]> {
  const [wasm, zkey] = await Promise.all(
    [parameters.wasmUrl, parameters.zkeyUrl].map(async (url) => {
      const response = await fetch(url);
      if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
      return new Uint8Array(await response.arrayBuffer());
    }),
  );
  const prover = createBrowserProver({ wasm: wasm!, zkey: zkey! });
  try {
    const seconds: number[] = [];
    for (const [index, input] of parameters.inputs.entries()) {
      const started = performance.now();
      await prover.prove(input);
      if (index > 0) seconds.push((performance.now() - started) / 1000);
    }
    return seconds;
  } finally {
    prover.close();
  }
}
