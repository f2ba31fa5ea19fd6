/**
 * Federated accuracy on real non-IID data (issue 6): FedAvg on Fashion-MNIST with 100
 * devices, Dirichlet(0.5) label skew, 10 devices per round, E = 1, B = 32; rounds until the
 * global model reaches 0.85 test accuracy (mlp) and 0.88 (cnn); the same with IID
 * partitions; and a centralized baseline trained on all 60,000 training records with the
 * same optimiser. The per-round curves are drawn to benchmarks/results/accuracy.png.
 *
 *   npx tsx benchmarks/accuracy.ts [--quick] [--engine simulation|demo] [--mlp-rounds 100]
 *     [--cnn-rounds 150] [--centralized-epochs-mlp 10] [--centralized-epochs-cnn 15]
 *     [--rounds-after-target 25|all] [--lr 0.05] [--variant NAME]
 *     [--only pipeline-check,mlp-dirichlet,cnn-iid,centralized-mlp,…]
 *
 * Engines. `demo` runs each job through runDemo: Redis, the coordinator, its workers and one
 * process per device. Each such device process loads the whole 60,000-record training pool
 * and peaks near 500 MiB of RSS (about 200 MiB once collected), so 100 of them need some
 * 20–50 GiB: more than this machine has. `simulation` (the default) computes the same job in
 * one process with the same code for every step but the transport (see simulateFederated);
 * the `pipeline-check` run first shows on a small job that both engines produce the same
 * model, byte for byte, round after round.
 *
 * Needs the Fashion-MNIST files (apt-get install dataset-fashion-mnist), redis-server (or
 * REDIS_URL) for the pipeline check and the demo engine, and rsvg-convert for the picture
 * (apt-get install librsvg2-bin). Results are rewritten after every run, so an interrupted
 * benchmark keeps what it measured.
 * Writes benchmarks/results/accuracy.json, .md and .png (accuracy-quick.* with --quick,
 * the picture then in the temporary directory; accuracy-NAME.* with --variant NAME, for a
 * run with other settings that must not replace the main results).
 */
import os from "node:os";
import path from "node:path";
import { loadFashionMnist } from "../client/node/fashion-mnist.js";
import { prepareTrainingBackend } from "../client/node/training-backend.js";
import { InvalidArgumentError } from "../common/errors.js";
import type { Dataset } from "../protocol/data/dataset.js";
import {
  type CheckPipelineReturnType,
  checkSimulationAgainstDemo,
} from "./accuracy/check-simulation.js";
import { renderCurvesSvg } from "./accuracy/render-curves-svg.js";
import {
  type RunFederatedCurveReturnType,
  runFederatedCurve,
} from "./accuracy/run-federated-curve.js";
import {
  type SimulateFederatedReturnType,
  simulateFederated,
} from "./accuracy/simulate-federated.js";
import { svgToPng } from "./accuracy/svg-to-png.js";
import { type TrainCentralizedReturnType, trainCentralized } from "./accuracy/train-centralized.js";
import {
  type FigureValue,
  isQuick,
  option,
  RESULTS_DIRECTORY,
  type ResultTable,
  resultsName,
  round,
  secondsSince,
  writeResults,
} from "./harness.js";

type CurveModel = "mlp" | "cnn";
const MODELS: readonly CurveModel[] = ["mlp", "cnn"];
const TARGETS: Record<CurveModel, number> = { mlp: 0.85, cnn: 0.88 };
const PARTITIONS = ["dirichlet:0.5", "iid"] as const;
type Partition = (typeof PARTITIONS)[number];
const TRAINING_RECORDS = 60_000;

const quick = isQuick();
const engine = option("engine", "simulation");
if (engine !== "simulation" && engine !== "demo") {
  throw new InvalidArgumentError(`--engine ${engine}: expected simulation or demo`);
}
/** Peak RSS of one demo device process on Fashion-MNIST, measured (see the header). */
const DEMO_DEVICE_PEAK_MIB = 500;
const clients = quick ? 20 : 100;
const clientsPerRound = quick ? 4 : 10;
const roundCaps: Record<CurveModel, number> = {
  mlp: Number(option("mlp-rounds", quick ? "2" : "100")),
  cnn: Number(option("cnn-rounds", quick ? "2" : "150")),
};
/**
 * As many epochs as the federated run's cap processes records: a round trains 10 of the 100
 * devices, a tenth of the data, so 10 rounds are about one pass over the 60,000 (slightly
 * less: the devices hold 10% of their records out for evaluation).
 */
const equalWorkEpochs = (model: CurveModel) =>
  Math.max(1, Math.round((roundCaps[model] * clientsPerRound) / clients));
const centralizedEpochs: Record<CurveModel, number> = {
  mlp: Number(option("centralized-epochs-mlp", String(equalWorkEpochs("mlp")))),
  cnn: Number(option("centralized-epochs-cnn", String(equalWorkEpochs("cnn")))),
};
/** A run stops this many rounds after first reaching its target; "all" runs to the cap. */
const roundsAfterTargetOption = option("rounds-after-target", "25");
const roundsAfterTarget =
  roundsAfterTargetOption === "all" ? undefined : Number(roundsAfterTargetOption);
const only = option("only", "")
  .split(",")
  .filter((name) => name !== "");
const wanted = (name: string) => only.length === 0 || only.includes(name);

const settings = {
  quick,
  engine,
  dataset: "fashion-mnist",
  strategy: "fedavg",
  clients,
  clientsPerRound,
  overSelection: 1,
  localEpochs: 1,
  batchSize: 32,
  learningRate: Number(option("lr", "0.05")),
  clipNorm: 5,
  seed: Number(option("seed", "1")),
  targets: TARGETS,
  roundCaps,
  roundsAfterTarget: roundsAfterTarget ?? "all",
  centralizedEpochs,
  centralizedRecords: quick ? 6000 : TRAINING_RECORDS,
  holdoutFraction: 0.1,
  machineCores: os.cpus().length,
  machineMemoryGiB: round(os.totalmem() / 2 ** 30, 1),
  demoDevicePeakRssMiB: DEMO_DEVICE_PEAK_MIB,
};

const progress = (line: string) => process.stderr.write(`${line}\n`);
const started = performance.now();
/** One federated run, from either engine. */
type FederatedRun = Pick<
  RunFederatedCurveReturnType,
  | "model"
  | "partition"
  | "target"
  | "initialTestAccuracy"
  | "roundsToTarget"
  | "finalTestAccuracy"
  | "bestTestAccuracy"
  | "totalSeconds"
  | "finalModelHash"
> & {
  engine: string;
  backend: string;
  curve: {
    round: number;
    testAccuracy: number;
    testLoss: number;
    accepted: number;
    seconds: number;
  }[];
  deviceSamples?: SimulateFederatedReturnType["deviceSamples"];
};
const federated: FederatedRun[] = [];
let pipelineCheck: CheckPipelineReturnType | undefined;
const centralized: ({ model: CurveModel } & TrainCentralizedReturnType)[] = [];
const errors: { run: string; message: string }[] = [];
const variant = option("variant", "");
const name = variant === "" ? "accuracy" : `accuracy-${variant}`;
const pngPath = quick
  ? path.join(os.tmpdir(), `fedproof-${name}-quick.png`)
  : path.join(RESULTS_DIRECTORY, `${name}.png`);

async function attempt(name: string, work: () => Promise<void>): Promise<void> {
  if (!wanted(name)) return;
  progress(`== ${name}`);
  const runStarted = performance.now();
  try {
    await work();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    errors.push({ run: name, message });
    progress(`== ${name} failed: ${message}`);
  }
  progress(`== ${name}: ${secondsSince(runStarted).toFixed(0)} s`);
  await report();
}

await attempt("pipeline-check", async () => {
  pipelineCheck = await checkSimulationAgainstDemo({
    learningRate: settings.learningRate,
    clipNorm: settings.clipNorm,
    seed: settings.seed,
    onProgress: (line) => progress(`  ${line}`),
  });
});

let pool: Dataset | undefined;
let test: Dataset | undefined;
async function fashionMnist(): Promise<{ pool: Dataset; test: Dataset }> {
  pool ??= await loadFashionMnist({ split: "train" });
  test ??= await loadFashionMnist({ split: "test" });
  return { pool, test };
}

for (const model of MODELS) {
  for (const partition of PARTITIONS) {
    await attempt(`${model}-${partition.split(":")[0]}`, async () => {
      const common = {
        clients,
        clientsPerRound,
        rounds: roundCaps[model],
        partition,
        learningRate: settings.learningRate,
        epochs: settings.localEpochs,
        batchSize: settings.batchSize,
        clipNorm: settings.clipNorm,
        seed: settings.seed,
        target: TARGETS[model],
        onProgress: (line: string) => progress(`  ${line}`),
      };
      if (engine === "demo") {
        const needed = (clients * DEMO_DEVICE_PEAK_MIB) / 1024;
        if (needed > os.totalmem() / 2 ** 30) {
          throw new InvalidArgumentError(
            `the demo engine needs about ${Math.round(needed)} GiB for ${clients} device processes; this machine has ${settings.machineMemoryGiB} GiB`,
          );
        }
        federated.push({ engine, ...(await runFederatedCurve({ model, ...common })) });
        return;
      }
      const backend = await prepareTrainingBackend(model, "wasm");
      const result = await simulateFederated({
        preset: model,
        ...(await fashionMnist()),
        ...common,
        roundsAfterTarget,
      });
      federated.push({
        engine,
        backend: backend.backend,
        model,
        partition,
        target: TARGETS[model],
        ...result,
      });
    });
  }
}

for (const model of MODELS) {
  await attempt(`centralized-${model}`, async () => {
    await prepareTrainingBackend(model, "wasm");
    const data = await fashionMnist();
    const train =
      data.pool.size > settings.centralizedRecords
        ? await loadFashionMnist({ split: "train", limit: settings.centralizedRecords })
        : data.pool;
    centralized.push({
      model,
      ...(await trainCentralized({
        preset: model,
        train,
        test: data.test,
        epochs: centralizedEpochs[model],
        batchSize: settings.batchSize,
        learningRate: settings.learningRate,
        seed: settings.seed,
        onProgress: (line) => progress(`  ${line}`),
      })),
    });
  });
}

process.exit(errors.length > 0 ? 1 : 0);

function federatedRun(model: CurveModel, partition: Partition) {
  return federated.find((run) => run.model === model && run.partition === partition);
}

function centralizedRun(model: CurveModel) {
  return centralized.find((run) => run.model === model);
}

/** Writes the JSON, the markdown and the picture from whatever has been measured so far. */
async function report(): Promise<void> {
  const summary: Record<string, FigureValue> = {
    roundsTo085Mlp: federatedRun("mlp", "dirichlet:0.5")?.roundsToTarget ?? null,
    roundsTo088Cnn: federatedRun("cnn", "dirichlet:0.5")?.roundsToTarget ?? null,
    roundsTo085MlpIid: federatedRun("mlp", "iid")?.roundsToTarget ?? null,
    roundsTo088CnnIid: federatedRun("cnn", "iid")?.roundsToTarget ?? null,
    mlpRoundCap: roundCaps.mlp,
    cnnRoundCap: roundCaps.cnn,
    engine,
    simulationMatchesDemo: pipelineCheck ? pipelineCheck.identical : null,
  };
  for (const model of MODELS) {
    for (const partition of PARTITIONS) {
      const run = federatedRun(model, partition);
      const key = `${model}${partition === "iid" ? "Iid" : "Dirichlet"}`;
      summary[`${key}FinalAccuracy`] = run ? round(run.finalTestAccuracy, 4) : null;
      summary[`${key}BestAccuracy`] = run ? round(run.bestTestAccuracy, 4) : null;
      summary[`${key}RoundsMeasured`] = run ? run.curve.length : null;
    }
  }
  for (const model of MODELS) {
    const run = centralizedRun(model);
    const reached = run?.epochs.find((epoch) => epoch.testAccuracy >= TARGETS[model]);
    summary[`centralized${model === "mlp" ? "Mlp" : "Cnn"}FinalAccuracy`] = run
      ? round(run.epochs.at(-1)?.testAccuracy ?? Number.NaN, 4)
      : null;
    summary[`centralized${model === "mlp" ? "Mlp" : "Cnn"}EpochsToTarget`] = run
      ? (reached?.epoch ?? null)
      : null;
  }

  let picture: string | null = null;
  try {
    await svgToPng(renderFigure(), pngPath);
    picture = path.relative(path.dirname(RESULTS_DIRECTORY), pngPath);
  } catch (error) {
    progress(`no picture: ${error instanceof Error ? error.message : String(error)}`);
  }
  writeResults(
    resultsName(name),
    {
      summary,
      settings,
      picture,
      totalSeconds: round(secondsSince(started), 1),
      pipelineCheck,
      federated,
      centralized,
      errors,
    },
    tables(),
  );
}

function renderFigure(): string {
  const colors: Record<Partition, string> = { "dirichlet:0.5": "#d1495b", iid: "#00798c" };
  return renderCurvesSvg({
    panels: MODELS.map((model) => {
      const baseline = centralizedRun(model);
      // Centralized epoch e processed as many records as 10·e federated rounds.
      const roundsPerEpoch = clients / clientsPerRound;
      return {
        title: `${model}: FedAvg, ${clients} devices, ${clientsPerRound} per round, E=1, B=32`,
        xLabel: "round",
        yLabel: "test accuracy (10,000 images)",
        xMax: roundCaps[model],
        yMin: 0.5,
        yMax: 0.95,
        references: [{ y: TARGETS[model], label: `target ${TARGETS[model]}` }],
        series: [
          ...PARTITIONS.flatMap((partition) => {
            const run = federatedRun(model, partition);
            return run
              ? [
                  {
                    label: `${partition === "iid" ? "IID" : "Dirichlet(0.5)"}${run.roundsToTarget === null ? " (target not reached)" : `, target at round ${run.roundsToTarget}`}`,
                    color: colors[partition],
                    points: [
                      [0, run.initialTestAccuracy] as const,
                      ...run.curve.map((point) => [point.round, point.testAccuracy] as const),
                    ],
                  },
                ]
              : [];
          }),
          ...(baseline
            ? [
                {
                  label: `centralized, epoch e at round ${roundsPerEpoch}·e`,
                  color: "#333333",
                  dashed: true,
                  markers: true,
                  points: [
                    [0, baseline.initialTestAccuracy] as const,
                    ...baseline.epochs.map(
                      (epoch) => [epoch.epoch * roundsPerEpoch, epoch.testAccuracy] as const,
                    ),
                  ],
                },
              ]
            : []),
        ],
      };
    }),
    caption: `Fashion-MNIST, local SGD lr ${settings.learningRate}, clip norm ${settings.clipNorm}, seed ${settings.seed}; each device holds out ${settings.holdoutFraction * 100}% of its records. Centralized: one model trained on all ${settings.centralizedRecords.toLocaleString("en")} training records with the same optimiser, plotted where the federated runs have processed as many records. ${new Date().toISOString().slice(0, 10)}.`,
  });
}

function tables(): ResultTable[] {
  const out: ResultTable[] = [
    {
      title: "Rounds to the target test accuracy",
      columns: [
        "model",
        "partition",
        "target",
        "rounds to target",
        "final",
        "best",
        "rounds run",
        "minutes",
      ],
      rows: federated.map((run) => [
        run.model,
        run.partition,
        run.target,
        run.roundsToTarget ?? `not reached in ${run.curve.length}`,
        round(run.finalTestAccuracy, 4),
        round(run.bestTestAccuracy, 4),
        run.curve.length,
        round(run.totalSeconds / 60, 1),
      ]),
      note: [
        `FedAvg, ${clients} devices (${engine === "demo" ? "runDemo: one process each" : "in-process simulation of the demo's job, see pipeline check"}), ${clientsPerRound} sampled per round and all of`,
        `them aggregated, E = 1, B = 32, lr ${settings.learningRate}, clip norm ${settings.clipNorm},`,
        `backend ${federated[0]?.backend ?? "—"}. Caps: ${roundCaps.mlp} rounds (mlp), ${roundCaps.cnn} (cnn)${roundsAfterTarget === undefined ? "" : `; a run stops ${roundsAfterTarget} rounds after first reaching its target`}.`,
      ].join(" "),
    },
  ];
  if (centralized.length > 0) {
    out.push({
      title: "Centralized baseline (all training records, same optimiser)",
      columns: [
        "model",
        ...Array.from(
          { length: Math.max(...centralized.map((run) => run.epochs.length)) },
          (_, i) => `epoch ${i + 1}`,
        ),
      ],
      rows: centralized.map((run) => [
        run.model,
        ...run.epochs.map((epoch) => round(epoch.testAccuracy, 4)),
      ]),
      note: `Test accuracy after each epoch over ${settings.centralizedRecords} records, batch 32, lr ${settings.learningRate}.`,
    });
  }
  for (const run of federated) {
    const every = Math.max(1, Math.ceil(run.curve.length / 30));
    out.push({
      title: `Curve: ${run.model}, ${run.partition}`,
      columns: ["round", "test accuracy", "test loss", "accepted", "seconds"],
      rows: run.curve
        .filter((point, index) => index % every === every - 1 || point.round === run.roundsToTarget)
        .map((point) => [
          point.round,
          round(point.testAccuracy, 4),
          round(point.testLoss, 4),
          point.accepted,
          round(point.seconds, 1),
        ]),
      note:
        every > 1
          ? `Every ${every}th round and the round the target was first reached; all rounds are in the JSON.`
          : undefined,
    });
  }
  return out;
}
