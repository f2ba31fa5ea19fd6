/**
 * The foundation benchmarks (issue 2): local training throughput per preset and backend,
 * coordinator overhead per round with 100 devices, FedAvg throughput at 200k parameters,
 * and an mlp accuracy run on Fashion-MNIST through the real demo pipeline.
 *
 *   npx tsx benchmarks/foundation.ts [--quick] [--lr 0.05] [--epochs 1] [--seconds 5]
 *
 * Needs Redis at REDIS_URL (default redis://127.0.0.1:6379) for the round overhead, and
 * the Fashion-MNIST files (apt-get install dataset-fashion-mnist). Writes
 * benchmarks/results/foundation.json and .md (foundation-quick.* with --quick).
 */
import { loadFashionMnist } from "../client/node/fashion-mnist.js";
import {
  ACCURACY_TARGET,
  type RunAccuracyBenchmarkReturnType,
  runAccuracyBenchmark,
} from "./foundation/accuracy-run.js";
import {
  type MeasureFedAvgThroughputReturnType,
  measureFedAvgThroughput,
} from "./foundation/fedavg-throughput.js";
import {
  type MeasureRoundOverheadReturnType,
  measureRoundOverhead,
} from "./foundation/round-overhead.js";
import {
  type MeasureTrainingThroughputReturnType,
  measureTrainingThroughput,
} from "./foundation/training-throughput.js";
import {
  type FigureValue,
  isQuick,
  option,
  type ResultTable,
  resultsName,
  round,
  secondsSince,
  writeResults,
} from "./harness.js";

const quick = isQuick();
const progress = (line: string) => process.stderr.write(`${line}\n`);
const settings = {
  quick,
  training: { batchSize: 32, secondsPerCase: Number(option("seconds", quick ? "1" : "5")) },
  roundOverhead: { devices: 100, rounds: quick ? 2 : 5 },
  fedAvg: { updates: 50, dimension: 200_000, seconds: quick ? 1 : 3 },
  accuracy: {
    clients: quick ? 4 : 20,
    clientsPerRound: quick ? 2 : 10,
    rounds: quick ? 2 : 20,
    partition: "dirichlet:0.5",
    learningRate: Number(option("lr", "0.05")),
    epochs: Number(option("epochs", "1")),
  },
};

const summary: Record<string, FigureValue> = {
  roundOverheadSeconds100: null,
  fedavgUpdatesPerSec200k: null,
  fedavgEndToEndUpdatesPerSec200k: null,
  mlpFmnistFinalAccuracy: null,
  mlpFmnistReachedTarget: null,
};
const tables: ResultTable[] = [];
const errors: { section: string; message: string }[] = [];
const started = performance.now();

/** One section failing (no Redis, no dataset) must not cost the others their figures. */
async function section<T>(name: string, run: () => Promise<T>): Promise<T | undefined> {
  progress(`== ${name}`);
  const sectionStarted = performance.now();
  try {
    return await run();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    errors.push({ section: name, message });
    progress(`${name} failed: ${message}`);
    return undefined;
  } finally {
    progress(`== ${name}: ${secondsSince(sectionStarted).toFixed(1)} s`);
  }
}

const fedAvg = await section("fedavg", async () => measureFedAvgThroughput(settings.fedAvg));
if (fedAvg) {
  summary.fedavgUpdatesPerSec200k = round(fedAvg.fedAvg.updatesPerSecond, 1);
  summary.fedavgEndToEndUpdatesPerSec200k = round(fedAvg.endToEnd.updatesPerSecond, 1);
  tables.push(fedAvgTable(fedAvg));
}

const training = await section("training", async () => {
  const data = await loadFashionMnist({ split: "train", limit: 8192 });
  return measureTrainingThroughput({ data, ...settings.training, onProgress: progress });
});
if (training) {
  for (const row of training.rows) {
    summary[`trainingSamplesPerSec${capitalise(row.backend)}${capitalise(row.model)}`] = round(
      row.samplesPerSecond,
      1,
    );
  }
  tables.push(trainingTable(training));
}

const overhead = await section("round overhead", () =>
  measureRoundOverhead({ ...settings.roundOverhead, onProgress: progress }),
);
if (overhead) {
  summary.roundOverheadSeconds100 = round(overhead.medianSeconds, 3);
  tables.push(overheadTable(overhead));
}

const accuracy = await section("accuracy", () =>
  runAccuracyBenchmark({ ...settings.accuracy, onProgress: progress }),
);
if (accuracy) {
  summary.mlpFmnistFinalAccuracy = round(accuracy.finalTestAccuracy, 4);
  summary.mlpFmnistReachedTarget = accuracy.finalTestAccuracy >= ACCURACY_TARGET;
  tables.push(accuracyTable(accuracy));
}

writeResults(
  resultsName("foundation"),
  {
    summary,
    settings,
    totalSeconds: round(secondsSince(started), 1),
    errors,
    trainingThroughput: training,
    roundOverhead: overhead,
    fedAvg,
    accuracy: accuracy && { target: ACCURACY_TARGET, ...accuracy },
  },
  tables,
);
// gRPC channels and the wasm runtime can keep the event loop alive after the work is done.
process.exit(errors.length > 0 ? 1 : 0);

function capitalise(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}

function trainingTable(result: MeasureTrainingThroughputReturnType): ResultTable {
  return {
    title: "Local training throughput (trainLocal, Fashion-MNIST, batch 32, SGD)",
    columns: [
      "backend",
      "model",
      "parameters",
      "samples",
      "seconds",
      "samples/s",
      "samples/CPU-s",
      "loss",
    ],
    rows: result.rows.map((row) => [
      row.backend,
      row.model,
      row.parameters,
      row.samples,
      round(row.seconds, 2),
      round(row.samplesPerSecond, 1),
      round(row.samplesPerCpuSecond, 1),
      round(row.loss, 3),
    ]),
    note: [
      "One epoch over the first records of the training set, sized to take about",
      `${settings.training.secondsPerCase} s after a warm-up batch. Single-threaded backends;`,
      "samples/CPU-s is less sensitive to other load on the machine.",
      ...result.skipped.map(
        (skip) => `Skipped ${skip.backend}${skip.model ? ` ${skip.model}` : ""}: ${skip.reason}.`,
      ),
    ].join(" "),
  };
}

function overheadTable(result: MeasureRoundOverheadReturnType): ResultTable {
  const seconds = (value: number | null) => (value === null ? "—" : round(value, 3));
  return {
    title: `Coordinator overhead per round, ${result.devices} devices, no local training`,
    columns: [
      "round",
      "tasks delivered",
      "models downloaded",
      "uploads acknowledged",
      "round closed",
      "round completed",
      "next round's first task",
    ],
    rows: result.rounds.map((row) => [
      row.round,
      seconds(row.tasksDelivered),
      seconds(row.modelsDownloaded),
      seconds(row.uploadsAcknowledged),
      seconds(row.closed),
      seconds(row.completed),
      seconds(row.nextRoundStarts),
    ]),
    note: [
      "Seconds since the first device received the round's task (the last column: since the",
      `round completed). mlp, ${result.paramCount} parameters: each device downloads the`,
      `${result.modelBytes}-byte model and uploads a ${result.updateBytes}-byte int16 update;`,
      "devices, coordinator and in-process verify/aggregate workers share one Node process.",
      `Median of "round completed": ${round(result.medianSeconds, 3)} s.`,
    ].join(" "),
  };
}

function fedAvgTable(result: MeasureFedAvgThroughputReturnType): ResultTable {
  const row = (step: string, timing: MeasureFedAvgThroughputReturnType["fedAvg"]) => [
    step,
    result.updates,
    result.dimension,
    timing.repeats,
    round(timing.secondsPerAggregation * 1000, 1),
    round(timing.updatesPerSecond, 1),
  ];
  return {
    title: "FedAvg throughput",
    columns: ["step", "updates", "parameters", "repeats", "ms per aggregation", "updates/s"],
    rows: [
      row("fedAvg (float32 deltas)", result.fedAvg),
      row("decode int16 + dequantise + fedAvg + apply", result.endToEnd),
    ],
  };
}

function accuracyTable(result: RunAccuracyBenchmarkReturnType): ResultTable {
  const s = result.settings;
  return {
    title: `Accuracy: mlp on Fashion-MNIST, ${s.clients} devices, ${s.partition}, ${s.clientsPerRound} per round`,
    columns: ["round", "test accuracy", "test loss", "accepted", "late", "seconds"],
    rows: [
      [0, round(result.initialTestAccuracy, 4), "", "", "", ""],
      ...result.curve.map((point) => [
        point.round,
        round(point.testAccuracy, 4),
        round(point.testLoss, 4),
        point.accepted,
        point.late,
        round(point.seconds, 1),
      ]),
    ],
    note: [
      `Local SGD: lr ${s.learningRate}, ${s.epochs} epoch(s), batch ${s.batchSize}, clip norm ${s.clipNorm}, seed ${s.seed};`,
      `backend ${result.backend}. Test set: the 10,000 Fashion-MNIST test images.`,
      `Target ${ACCURACY_TARGET}: final ${round(result.finalTestAccuracy, 4)}, best ${round(result.bestTestAccuracy, 4)},`,
      `first reached in round ${result.firstRoundAtTarget ?? "— (not reached)"}. ${round(result.totalSeconds, 1)} s in all.`,
    ].join(" "),
  };
}
