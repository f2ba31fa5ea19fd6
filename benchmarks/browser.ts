/**
 * Devices in the browser against devices in Node, on this machine and in one run (issue 12):
 * seconds per UpdateNorm chunk proof and per DataValidity proof through the device page's
 * own path (snarkjs in a Web Worker, headless Chromium) and the Node device's (snarkjs in a
 * worker thread), on the same inputs; local training samples/s in Chromium (WebGL when the
 * browser has it, and wasm) and in Node (wasm, tfjs-node when installed); and the page's
 * peak JS heap (CDP Performance.getMetrics JSHeapUsedSize, sampled through the run).
 *
 *   npx tsx benchmarks/browser.ts [--quick] [--repeats 3] [--production]
 *
 * The circuits are the small test circuits (chunk n = 64; DataValidity depth 6, 8 features,
 * k = 2) unless --production, which takes the production chunk circuit (16 bits) and the
 * DataValidity circuit of the demo's synthetic job (16 features, k = 8) instead, both with the
 * INSECURE development setup (same costs as a ceremony key). Needs Chromium
 * (/usr/bin/chromium or $FEDPROOF_CHROMIUM). Writes benchmarks/results/browser.json and .md
 * (browser-quick.* with --quick).
 */
import { readFileSync } from "node:fs";
import * as tf from "@tensorflow/tfjs";
import pino from "pino";
import type { CDPSession, Page } from "playwright-core";
import type { CircuitInput } from "snarkjs";
import { buildCircuits, type CircuitArtifacts } from "../circuits/build.js";
import {
  dataValidityCircuit,
  TEST_CIRCUITS,
  updateNormCircuit,
} from "../circuits/circuit-catalog.js";
import { syntheticDataset } from "../client/core/data/synthetic.js";
import { dataValidityInputs } from "../client/core/proving/data-validity-inputs.js";
import { releaseSnarkjsThreads } from "../client/core/proving/release-snarkjs.js";
import { trainLocal } from "../client/core/train.js";
import { registerWasmGradKernels } from "../client/core/wasm-grad-kernels/index.js";
import { BackendUnavailableError, selectBackend } from "../client/node/backend.js";
import { createWorkerProver } from "../client/node/prove-worker.js";
import { ensureWebApp } from "../coordinator/web/web-app.js";
import { startWebServer } from "../coordinator/web/web-server.js";
import type { DataValidityParameters } from "../protocol/proving/data-validity-parameters.js";
import {
  commitDataset,
  encodeRecord,
  schemaBounds,
} from "../protocol/proving/dataset-commitment.js";
import { featureScaleFor } from "../protocol/proving/feature-scale.js";
import { readSrsFromPtau } from "../protocol/proving/kzg.js";
import { updateNormInputs } from "../protocol/proving/prove-update-norm.js";
import { CHROMIUM_PATH, launchChromium } from "../test/browser/chromium.js";
import {
  type FigureValue,
  isQuick,
  median,
  option,
  type ResultTable,
  resultsName,
  round,
  writeResults,
} from "./harness.js";

const quick = isQuick();
const production = process.argv.includes("--production");
const repeats = Number(option("repeats", quick ? "2" : "3"));
/** Fashion-MNIST's shape: what the mlp preset is benchmarked on in training.json. */
const TRAIN = { preset: "mlp", features: 784, classes: 10, batchSize: 32 } as const;
const trainRecords = quick ? 512 : 2048;
const context = {
  jobId: "bench",
  round: 1,
  globalModelHash: "ab".repeat(32),
  deviceId: "bench-device",
  roundSeed: "cd".repeat(32),
};

interface ProofCase {
  kind: "update-norm" | "data-validity";
  circuit: CircuitArtifacts;
  /** One warm-up input, then `repeats` timed ones. */
  inputs: CircuitInput[];
}

const bigintsAsStrings = (input: CircuitInput): CircuitInput =>
  JSON.parse(JSON.stringify(input, (_, v) => (typeof v === "bigint" ? v.toString() : v)));

async function updateNormCase(circuit: CircuitArtifacts, ptauPath: string): Promise<ProofCase> {
  if (circuit.spec.kind !== "update-norm") throw new Error("not an update-norm circuit");
  const { n, bits } = circuit.spec;
  const srs = await readSrsFromPtau(ptauPath, n + 2);
  const inputs: CircuitInput[] = [];
  for (let r = 0; r <= repeats; r++) {
    const q = Int32Array.from({ length: n }, (_, i) => ((i * 37 + r) % 201) - 100);
    let sum = 0n;
    for (const v of q) sum += BigInt(v) * BigInt(v);
    const { chunks } = await updateNormInputs({
      q,
      circuit: { n, bits },
      salt: BigInt(r + 1),
      context,
      c2: sum,
      srs,
    });
    inputs.push(bigintsAsStrings(chunks[0]!.input));
  }
  return { kind: "update-norm", circuit, inputs };
}

function dataValidityCase(circuit: CircuitArtifacts): ProofCase {
  const spec = circuit.spec;
  if (spec.kind !== "data-validity") throw new Error("not a data-validity circuit");
  const parameters = spec as unknown as DataValidityParameters;
  const schema = { featureShape: [spec.features], min: 0, max: 1, classes: 2 };
  const featureScale = featureScaleFor(schema, spec.featureBits);
  const records = Array.from({ length: 40 }, (_, i) =>
    encodeRecord(
      Array.from({ length: spec.features }, (_, f) => ((i * 7 + f) % 10) / 10),
      i % 2,
      { featureScale, min: 0, max: 1 },
    ),
  );
  const dataset = commitDataset({
    parameters,
    records,
    privateKey: new Uint8Array(32).fill(7),
  });
  const bounds = schemaBounds({ featureScale, min: 0, max: 1 });
  const inputs = Array.from({ length: repeats + 1 }, (_, r) =>
    bigintsAsStrings(
      dataValidityInputs({
        dataset,
        context: { ...context, round: r + 1 },
        minSamples: 1,
        featureMin: bounds.featureMin,
        featureMax: bounds.featureMax,
        classes: 2,
      }).input,
    ),
  );
  return { kind: "data-validity", circuit, inputs };
}

async function nodeProofSeconds(proof: ProofCase): Promise<number[]> {
  const prover = await createWorkerProver({
    wasm: proof.circuit.wasmPath,
    zkey: proof.circuit.zkeyPath,
  });
  try {
    const seconds: number[] = [];
    for (const [index, input] of proof.inputs.entries()) {
      const started = performance.now();
      await prover.prove(input);
      if (index > 0) seconds.push((performance.now() - started) / 1000);
    }
    return seconds;
  } finally {
    await prover.close();
  }
}

async function nodeTrainSamplesPerSecond(): Promise<number> {
  const dataset = (samples: number, seed: number) =>
    syntheticDataset({ samples, seed, features: TRAIN.features, classes: TRAIN.classes });
  const data = dataset(trainRecords, 1);
  const { createModel, parseModelPreset } = await import("../protocol/model/presets.js");
  const model = createModel(parseModelPreset(TRAIN.preset), data.schema, 1);
  const train = (records: typeof data) =>
    trainLocal({
      model,
      data: records,
      epochs: 1,
      batchSize: TRAIN.batchSize,
      learningRate: 0.05,
      seed: 1,
    });
  await train(dataset(TRAIN.batchSize, 2));
  const timed = await train(data);
  model.dispose();
  return timed.samplesPerSecond;
}

/** The page's JS heap, sampled every 250 ms until stopped; the peak in MiB. */
function samplePeakHeap(cdp: CDPSession): { stop(): Promise<number> } {
  let peak = 0;
  let stopped = false;
  const sampling = (async () => {
    while (!stopped) {
      const { metrics } = await cdp.send("Performance.getMetrics");
      const used = metrics.find((m) => m.name === "JSHeapUsedSize")?.value ?? 0;
      peak = Math.max(peak, used);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await sampling;
      return peak / 2 ** 20;
    },
  };
}

type Bench = {
  useBackend(name: string): Promise<string>;
  benchTrain(parameters: typeof TRAIN & { records: number; epochs: number }): Promise<number>;
  benchProve(parameters: {
    wasmUrl: string;
    zkeyUrl: string;
    inputs: CircuitInput[];
  }): Promise<number[]>;
};

const inPage = <T>(page: Page, body: string, argument: unknown): Promise<T> =>
  page.evaluate(
    ([source, value]) => {
      const bench = (globalThis as unknown as { fedproofBench: Bench }).fedproofBench;
      return new Function("bench", "argument", `return (${source})(bench, argument)`)(bench, value);
    },
    [body, argument] as const,
  ) as Promise<T>;

console.log(`Chromium ${CHROMIUM_PATH}; ${repeats} timed proofs per case`);
const { circuits, ptauPath } = await buildCircuits({
  dev: true,
  circuits: production
    ? [updateNormCircuit(16), dataValidityCircuit({ features: 16, featureBits: 8, samples: 8 })]
    : [TEST_CIRCUITS.updateNorm, TEST_CIRCUITS.dataValidity],
});
const proofCases = [await updateNormCase(circuits[0]!, ptauPath), dataValidityCase(circuits[1]!)];

// Node first, then the browser: the two never share the machine.
const nodeProofs: Record<string, number[]> = {};
for (const proof of proofCases) {
  nodeProofs[proof.kind] = await nodeProofSeconds(proof);
  console.log(
    `node ${proof.kind}: ${nodeProofs[proof.kind]!.map((s) => s.toFixed(2)).join(", ")} s`,
  );
}
await releaseSnarkjsThreads();
const nodeTraining: Record<string, number | null> = {};
for (const backend of ["wasm", "tensorflow"] as const) {
  try {
    await selectBackend({ preferred: backend });
    if (backend === "wasm") registerWasmGradKernels();
    nodeTraining[backend] = await nodeTrainSamplesPerSecond();
  } catch (error) {
    if (!(error instanceof BackendUnavailableError)) throw error;
    nodeTraining[backend] = null;
  }
  console.log(`node ${backend} training: ${nodeTraining[backend] ?? "unavailable"} samples/s`);
}
tf.disposeVariables();

const appDir = await ensureWebApp();
const server = await startWebServer({
  host: "127.0.0.1",
  port: 0,
  services: [],
  appDir,
  logger: pino({ level: "silent" }),
});
// WebGL as the browser offers it headless: SwiftShader, Chromium's software GPU.
const browser = await launchChromium();
const browserProofs: Record<string, number[]> = {};
const browserTraining: Record<string, number | null> = {};
let peakHeapMiB = 0;
let userAgent = "";
try {
  const page = await browser.newPage();
  const artifacts = new Map<string, string>();
  for (const proof of proofCases) {
    artifacts.set(`/bench-artifacts/${proof.kind}.wasm`, proof.circuit.wasmPath);
    artifacts.set(`/bench-artifacts/${proof.kind}.zkey`, proof.circuit.zkeyPath);
  }
  await page.route("**/bench-artifacts/*", (route) => {
    const file = artifacts.get(new URL(route.request().url()).pathname);
    return file
      ? route.fulfill({ body: readFileSync(file), contentType: "application/octet-stream" })
      : route.fulfill({ status: 404 });
  });
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Performance.enable");
  await page.goto(`${server.url}#/bench`);
  await page.waitForSelector('#bench[data-ready="true"]');
  userAgent = String(await page.evaluate("navigator.userAgent"));
  const heap = samplePeakHeap(cdp);
  for (const proof of proofCases) {
    browserProofs[proof.kind] = await inPage<number[]>(page, "(bench, a) => bench.benchProve(a)", {
      wasmUrl: `/bench-artifacts/${proof.kind}.wasm`,
      zkeyUrl: `/bench-artifacts/${proof.kind}.zkey`,
      inputs: proof.inputs,
    });
    console.log(
      `chromium ${proof.kind}: ${browserProofs[proof.kind]!.map((s) => s.toFixed(2)).join(", ")} s`,
    );
  }
  for (const backend of ["webgl", "wasm"]) {
    const chosen = await inPage<string>(page, "(bench, a) => bench.useBackend(a)", backend).catch(
      () => "",
    );
    browserTraining[backend] =
      chosen === backend
        ? await inPage<number>(page, "(bench, a) => bench.benchTrain(a)", {
            ...TRAIN,
            records: trainRecords,
            epochs: 1,
          })
        : null;
    console.log(
      `chromium ${backend} training: ${browserTraining[backend] ?? "unavailable"} samples/s`,
    );
  }
  peakHeapMiB = await heap.stop();
} finally {
  await browser.close();
  await server.close();
}

const ratio = (browser: number, node: number) => round(browser / node, 2);
const proofRows = proofCases.map((proof) => {
  const b = median(browserProofs[proof.kind]!);
  const n = median(nodeProofs[proof.kind]!);
  return {
    kind: proof.kind,
    circuit: proof.circuit.id,
    constraints: proof.circuit.constraints,
    chromiumSeconds: round(b, 3),
    nodeSeconds: round(n, 3),
    ratio: ratio(b, n),
  };
});
const updateRow = proofRows[0]!;
const dataRow = proofRows[1]!;
const summary: Record<string, FigureValue> = {
  circuits: production ? "production" : "test",
  updateNormChunkChromiumSeconds: updateRow.chromiumSeconds,
  updateNormChunkNodeSeconds: updateRow.nodeSeconds,
  updateNormChromiumOverNode: updateRow.ratio,
  dataValidityChromiumSeconds: dataRow.chromiumSeconds,
  dataValidityNodeSeconds: dataRow.nodeSeconds,
  dataValidityChromiumOverNode: dataRow.ratio,
  trainChromiumWebglSamplesPerSecond:
    browserTraining.webgl === null ? null : round(browserTraining.webgl!, 0),
  trainChromiumWasmSamplesPerSecond:
    browserTraining.wasm === null ? null : round(browserTraining.wasm!, 0),
  trainNodeWasmSamplesPerSecond: nodeTraining.wasm === null ? null : round(nodeTraining.wasm!, 0),
  trainNodeTensorflowSamplesPerSecond:
    nodeTraining.tensorflow === null ? null : round(nodeTraining.tensorflow!, 0),
  trainChromiumWasmOverNodeWasm:
    browserTraining.wasm && nodeTraining.wasm
      ? ratio(browserTraining.wasm, nodeTraining.wasm)
      : null,
  pagePeakJsHeapMiB: round(peakHeapMiB, 1),
};

const proofTable: ResultTable = {
  title: `Seconds per proof (median of ${repeats}, after one warm-up): Chromium Web Worker vs Node worker thread`,
  columns: ["proof", "circuit", "constraints", "Chromium s", "Node s", "Chromium / Node"],
  rows: proofRows.map((r) => [
    r.kind,
    r.circuit,
    r.constraints,
    r.chromiumSeconds,
    r.nodeSeconds,
    r.ratio,
  ]),
};
const trainingTable: ResultTable = {
  title: `Local training, ${TRAIN.preset} on ${TRAIN.features} features × ${TRAIN.classes} classes, batch ${TRAIN.batchSize}, ${trainRecords} records`,
  columns: ["where", "backend", "samples/s"],
  rows: [
    ["Chromium", "webgl (SwiftShader, headless)", browserTraining.webgl ?? "unavailable"],
    ["Chromium", "wasm", browserTraining.wasm ?? "unavailable"],
    ["Node", "wasm", nodeTraining.wasm ?? "unavailable"],
    ["Node", "tensorflow (tfjs-node)", nodeTraining.tensorflow ?? "not installed"],
  ].map(([where, backend, value]) => [
    where as string,
    backend as string,
    typeof value === "number" ? round(value, 0) : value,
  ]),
};
writeResults(
  resultsName("browser"),
  {
    summary,
    chromium: { userAgent, executable: CHROMIUM_PATH },
    proofs: proofRows.map((r) => ({
      ...r,
      chromiumRuns: browserProofs[r.kind],
      nodeRuns: nodeProofs[r.kind],
    })),
    training: { browser: browserTraining, node: nodeTraining, ...TRAIN, records: trainRecords },
    memoryNote:
      "pagePeakJsHeapMiB is the page's main-thread JS heap (CDP JSHeapUsedSize); the prover's Web Worker heap and wasm memories are not included",
  },
  [proofTable, trainingTable],
);
process.exit(0);
