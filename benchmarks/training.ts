/**
 * Local training throughput (issue 6): samples/s and peak memory of every model preset on
 * the TensorFlow.js backends (wasm with fedproof's gradient kernels, cpu, tfjs-node where
 * installed) against PyTorch on CPU with the same architecture, batch size and optimiser,
 * with 1 and 2 threads, all in one run.
 *
 *   npx tsx benchmarks/training.ts [--quick] [--seconds 5] [--repeats 3] [--records 8192]
 *
 * Needs the Fashion-MNIST files (apt-get install dataset-fashion-mnist) and, for the
 * reference, Debian's python3-torch (apt-get install python3-torch), which only
 * /usr/bin/python3 imports. Every case runs in a child process of its own so that its peak
 * RSS is its own; the cases are interleaved across repeats so that a burst of load from
 * other work on the machine does not land on one case only, and the median is reported.
 * Writes benchmarks/results/training.json and .md (training-quick.* with --quick).
 */
import os from "node:os";
import path from "node:path";
import { MODEL_PRESETS, type ModelPreset } from "../protocol/model/presets.js";
import {
  BENCHMARKS_DIRECTORY,
  type FigureValue,
  isQuick,
  median,
  option,
  type ResultTable,
  resultsName,
  round,
  secondsSince,
  writeResults,
} from "./harness.js";
import { isSkipped, type MeasuredCase, type NodeCaseResult } from "./training/case-result.js";
import { runJsonChild } from "./training/run-json-child.js";

const quick = isQuick();
const PYTHON = "/usr/bin/python3";
const TORCH_SCRIPT = path.join(BENCHMARKS_DIRECTORY, "torch", "train_throughput.py");
const NODE_CASE_SCRIPT = path.join(BENCHMARKS_DIRECTORY, "training", "node-case.ts");
const NODE_BACKENDS = ["wasm", "cpu", "tensorflow"] as const;
/**
 * PyTorch's reference runs: 1 and 2 threads as shipped, and 2 threads with OpenMP told not
 * to spin. GNU OpenMP's workers spin-wait between parallel regions; on a machine whose two
 * cores other processes also want, the spinning thread steals the core its partner needs
 * and a 2-thread run can fall far below the 1-thread one. The passive run shows what two
 * threads give without that pathology.
 */
const TORCH_RUNS = [
  { backend: "torch-1t", threads: 1, env: {} },
  { backend: "torch-2t", threads: 2, env: {} },
  { backend: "torch-2t-passive", threads: 2, env: { OMP_WAIT_POLICY: "PASSIVE" } },
] as const;
/** Targets from issue 6, against PyTorch with the same thread count (wasm runs 1 in Node). */
const TARGETS = { mlp: 1.0, cnn: 0.5 } as const;
/** A case slower than this runs once: more repeats of a minute-long batch would add nothing. */
const SLOW_SAMPLES_PER_SECOND = 50;

const settings = {
  quick,
  dataset: "fashion-mnist",
  batchSize: 32,
  learningRate: 0.05,
  optimiser: "SGD",
  seed: 1,
  secondsPerCase: Number(option("seconds", quick ? "1" : "5")),
  repeats: Number(option("repeats", quick ? "1" : "3")),
  records: Number(option("records", quick ? "2048" : "8192")),
  presets: [...MODEL_PRESETS],
  nodeBackends: [...NODE_BACKENDS],
  torchRuns: TORCH_RUNS.map(({ backend, threads, env }) => ({ backend, threads, env })),
};

interface CaseKey {
  runtime: "tfjs" | "pytorch";
  /** tfjs backend name, or one of TORCH_RUNS' names. */
  backend: string;
  model: ModelPreset;
}

interface CaseRun extends MeasuredCase {
  repeat: number;
  loadAverage: number;
}

interface CaseSummary extends CaseKey {
  runs: CaseRun[];
  parameters: number;
  samplesPerSecond: number;
  samplesPerCpuSecond: number | null;
  peakRssMiB: number;
  rssBeforeModelMiB: number;
  loss: number;
}

const progress = (line: string) => process.stderr.write(`${line}\n`);
const started = performance.now();
const keys: CaseKey[] = [
  ...settings.nodeBackends.flatMap((backend) =>
    settings.presets.map((model): CaseKey => ({ runtime: "tfjs", backend, model })),
  ),
  ...TORCH_RUNS.flatMap(({ backend }) =>
    settings.presets.map((model): CaseKey => ({ runtime: "pytorch", backend, model })),
  ),
];
const runs = new Map<string, CaseRun[]>();
const skipped = new Map<string, string>();
const errors: { backend: string; model: string; message: string }[] = [];
const id = (key: CaseKey) => `${key.backend}/${key.model}`;

function command(key: CaseKey): {
  command: string;
  args: string[];
  env?: Record<string, string>;
} {
  const common = [
    "--model",
    key.model,
    "--seconds",
    String(settings.secondsPerCase),
    "--records",
    String(settings.records),
    "--batch",
    String(settings.batchSize),
    "--lr",
    String(settings.learningRate),
    "--seed",
    String(settings.seed),
  ];
  const torch = TORCH_RUNS.find((run) => run.backend === key.backend);
  if (torch) {
    return {
      command: PYTHON,
      args: [TORCH_SCRIPT, "--threads", String(torch.threads), ...common],
      env: torch.env,
    };
  }
  return {
    command: process.execPath,
    args: ["--import", "tsx", NODE_CASE_SCRIPT, "--backend", key.backend, ...common],
  };
}

for (let repeat = 0; repeat < settings.repeats; repeat++) {
  for (const key of keys) {
    if (skipped.has(id(key))) continue;
    const previous = runs.get(id(key)) ?? [];
    if (previous.some((run) => run.samplesPerSecond < SLOW_SAMPLES_PER_SECOND)) continue;
    const loadAverage = round(os.loadavg()[0] ?? 0, 2);
    const { command: executable, args, env } = command(key);
    try {
      // A slow case takes a warm-up batch and a timed batch: minutes for cpu cnn-fedavg.
      const result = await runJsonChild<NodeCaseResult>({
        command: executable,
        args,
        env,
        timeoutMs: 15 * 60_000,
      });
      if (isSkipped(result)) {
        skipped.set(id(key), result.skipped);
        progress(`${id(key)}: skipped (${result.skipped})`);
        continue;
      }
      runs.set(id(key), [...previous, { ...result, repeat, loadAverage }]);
      progress(
        `${id(key)} #${repeat + 1}: ${round(result.samplesPerSecond, 1)} samples/s, peak RSS ${Math.round(result.peakRssMiB)} MiB (load ${loadAverage})`,
      );
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      errors.push({ backend: key.backend, model: key.model, message });
      progress(`${id(key)} #${repeat + 1} failed: ${message}`);
    }
  }
}

const cases: CaseSummary[] = keys.flatMap((key) => {
  const measured = runs.get(id(key)) ?? [];
  if (measured.length === 0) return [];
  const cpuRates = measured.flatMap((run) =>
    run.samplesPerCpuSecond === null ? [] : [run.samplesPerCpuSecond],
  );
  return [
    {
      ...key,
      runs: measured,
      parameters: measured[0]!.parameters,
      samplesPerSecond: median(measured.map((run) => run.samplesPerSecond)),
      samplesPerCpuSecond: cpuRates.length > 0 ? median(cpuRates) : null,
      peakRssMiB: Math.max(...measured.map((run) => run.peakRssMiB)),
      rssBeforeModelMiB: median(measured.map((run) => run.rssBeforeModelMiB)),
      loss: median(measured.map((run) => run.loss)),
    },
  ];
});
const find = (backend: string, model: ModelPreset) =>
  cases.find((entry) => entry.backend === backend && entry.model === model);

/** wasm ÷ torch for `model`, on wall-clock samples/s or samples per CPU-second. */
function ratio(model: ModelPreset, torch: string, per: "wall" | "cpu" = "wall"): number | null {
  const wasm = find("wasm", model);
  const reference = find(torch, model);
  if (!wasm || !reference) return null;
  const [numerator, denominator] =
    per === "wall"
      ? [wasm.samplesPerSecond, reference.samplesPerSecond]
      : [wasm.samplesPerCpuSecond, reference.samplesPerCpuSecond];
  return numerator === null || denominator === null ? null : round(numerator / denominator, 3);
}

/** "cnn-fedavg" → "CnnFedavg", "torch2Threads-passive" → "Torch2ThreadsPassive". */
const camel = (name: string) =>
  name.replace(/(^|-)([a-z])/g, (_, __: string, letter: string) => letter.toUpperCase());
const summary: Record<string, FigureValue> = {
  mlpWasmVsTorch: ratio("mlp", "torch-1t"),
  cnnWasmVsTorch: ratio("cnn", "torch-1t"),
  mlpWasmVsTorchTarget: TARGETS.mlp,
  cnnWasmVsTorchTarget: TARGETS.cnn,
  mlpTargetMet: meets(ratio("mlp", "torch-1t"), TARGETS.mlp),
  cnnTargetMet: meets(ratio("cnn", "torch-1t"), TARGETS.cnn),
  mlpWasmVsTorch2Threads: ratio("mlp", "torch-2t"),
  cnnWasmVsTorch2Threads: ratio("cnn", "torch-2t"),
  mlpWasmVsTorch2ThreadsPassive: ratio("mlp", "torch-2t-passive"),
  cnnWasmVsTorch2ThreadsPassive: ratio("cnn", "torch-2t-passive"),
  mlpWasmVsTorchPerCpuSecond: ratio("mlp", "torch-1t", "cpu"),
  cnnWasmVsTorchPerCpuSecond: ratio("cnn", "torch-1t", "cpu"),
  logregWasmVsTorch: ratio("logreg", "torch-1t"),
  cnnFedavgWasmVsTorch: ratio("cnn-fedavg", "torch-1t"),
};
for (const entry of cases) {
  const backend = camel(entry.backend.replace("-1t", "1Thread").replace("-2t", "2Threads"));
  const prefix = `${backend.charAt(0).toLowerCase()}${backend.slice(1)}${camel(entry.model)}`;
  summary[`${prefix}SamplesPerSec`] = round(entry.samplesPerSecond, 1);
  summary[`${prefix}PeakRssMiB`] = round(entry.peakRssMiB, 1);
}
// One reason per backend: tfjs-node missing skips every preset for the same reason.
for (const [key, reason] of skipped) summary[`${key.split("/")[0]}Skipped`] = reason;

function meets(value: number | null, target: number): boolean | null {
  return value === null ? null : value >= target;
}

const tables: ResultTable[] = [
  {
    title: "Training throughput, Fashion-MNIST, batch 32, SGD (median of the repeats)",
    columns: [
      "runtime",
      "backend",
      "model",
      "parameters",
      "runs",
      "samples/s",
      "samples/CPU-s",
      "vs torch 1 thread",
      "vs torch 2 threads",
      "vs torch 2 threads, passive",
      "peak RSS MiB",
      "RSS before model MiB",
      "loss",
    ],
    rows: cases.map((entry) => {
      const versus = (torch: string) => {
        const reference = find(torch, entry.model);
        return reference ? round(entry.samplesPerSecond / reference.samplesPerSecond, 3) : "—";
      };
      return [
        entry.runtime,
        entry.backend,
        entry.model,
        entry.parameters,
        entry.runs.length,
        round(entry.samplesPerSecond, 1),
        entry.samplesPerCpuSecond === null ? "—" : round(entry.samplesPerCpuSecond, 1),
        versus("torch-1t"),
        versus("torch-2t"),
        versus("torch-2t-passive"),
        round(entry.peakRssMiB, 1),
        round(entry.rssBeforeModelMiB, 1),
        round(entry.loss, 3),
      ];
    }),
    note: [
      `Each case: its own process, the first ${settings.records} training records, a warm-up`,
      `batch, a probe, then whole epochs sized to about ${settings.secondsPerCase} s; loss read`,
      "back every batch on both sides. tfjs in Node runs single-threaded (wasm without",
      "WebAssembly threads), so its like-for-like reference is torch with 1 thread.",
      "torch-2t-passive: 2 threads with OMP_WAIT_POLICY=PASSIVE (no spin-waiting).",
      `Targets (wasm ÷ torch 1 thread): mlp ≥ ${TARGETS.mlp}, cnn ≥ ${TARGETS.cnn}.`,
      "Peak RSS is the process's maximum resident set (Node: process.resourceUsage().maxRSS;",
      "Python: resource.getrusage); RSS before model: runtime, backend and data loaded.",
      `Cases under ${SLOW_SAMPLES_PER_SECOND} samples/s run once.`,
      ...[...new Map([...skipped].map(([key, reason]) => [key.split("/")[0], reason]))].map(
        ([backend, reason]) => `Skipped ${backend}: ${reason}.`,
      ),
      ...errors.map((error) => `Failed ${error.backend}/${error.model}: ${error.message}.`),
    ].join(" "),
  },
];

writeResults(
  resultsName("training"),
  {
    summary,
    settings,
    targets: TARGETS,
    totalSeconds: round(secondsSince(started), 1),
    cases,
    skipped: [...skipped].map(([key, reason]) => ({ case: key, reason })),
    errors,
  },
  tables,
);
process.exit(errors.length > 0 ? 1 : 0);
