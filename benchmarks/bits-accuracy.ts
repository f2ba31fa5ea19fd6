/**
 * Bits versus accuracy (issue 14): FedAvg on Fashion-MNIST, mlp (199,210 parameters), 100
 * devices, Dirichlet(0.5) label skew, 10 per round, E = 1, B = 32, at 4, 8 and 16 quantisation
 * bits with unbiased stochastic rounding; for each width the rounds to 0.85 test accuracy (and
 * the accuracy after a fixed budget of rounds), and the UpdateNorm proving seconds one device
 * spends per round.
 *
 *   npx tsx benchmarks/bits-accuracy.ts [--quick] [--bits 4,8,16] [--rounds 130]
 *     [--budget 100] [--rounds-after-target 5|all] [--lr 0.1] [--seed 1]
 *     [--proof-repeats 3] [--skip-accuracy] [--skip-proofs]
 *
 * A run with --skip-accuracy or --skip-proofs (or --bits) keeps the other figures of the
 * results file, so the phases may run separately; with both it only redraws the results.
 *
 * Accuracy runs through simulateFederated, the demo's job in one process (see
 * benchmarks/accuracy.ts for why, and its pipeline check for the byte-for-byte equality with
 * the demo): the job spec is parsed by parseJobSpec, so the scale is the spec's rule, and each
 * device's update goes through prepareUpdate (clip, per-coordinate range, stochastic rounding
 * from the CSPRNG, encode) and back through the aggregate worker's decodeUpdate and dequantize.
 *
 * Proving: for each width the production chunk circuit (updateNormCircuit: the chunk size is
 * a function of the bits, so every chunk stays within one 2^16 proving key) is built with the
 * INSECURE development setup, and chunks of a real quantised mlp update are proven with the
 * device's prover pool. Measured: one chunk alone (median of the repeats after a warm-up) and
 * 2 × pool-size chunks through the pool. Extrapolated: a device's round, ⌈199,210/n⌉ chunks at
 * the pooled rate (every chunk costs the same; benchmarks/proofs.ts). The DataValidity proof
 * a device also makes each round does not depend on the bits and is not included.
 *
 * Writes benchmarks/results/bits-accuracy.json, .md and .png (bits-accuracy-quick.* with
 * --quick, the picture then in the temporary directory). Results are rewritten after every
 * run, so an interrupted benchmark keeps what it measured.
 */
import { existsSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { buildCircuits } from "../circuits/build.js";
import { updateNormCircuit } from "../circuits/circuit-catalog.js";
import { prepareUpdate } from "../client/core/update/prepare-update.js";
import { loadFashionMnist } from "../client/node/fashion-mnist.js";
import { createProverPool } from "../client/node/prover-pool.js";
import { prepareTrainingBackend } from "../client/node/training-backend.js";
import { InvalidArgumentError } from "../common/errors.js";
import type { Dataset } from "../protocol/data/dataset.js";
import { parseJobSpec } from "../protocol/job/job-spec.js";
import { parameterCount } from "../protocol/model/parameter-count.js";
import { batchVerifyGroth16 } from "../protocol/proofs/batch-verify-groth16.js";
import { readSrsFromPtau } from "../protocol/proving/kzg.js";
import type { ProofWithSignals } from "../protocol/proving/prove-groth16.js";
import { proveUpdate, updateNormInputs } from "../protocol/proving/prove-update-norm.js";
import { chunkCount } from "../protocol/proving/update-norm-parameters.js";
import { createRng } from "../protocol/random.js";
import { quantizedNormBound } from "../protocol/update/quantize.js";
import { renderCurvesSvg } from "./accuracy/render-curves-svg.js";
import {
  type SimulatedRound,
  type SimulateFederatedReturnType,
  simulateFederated,
} from "./accuracy/simulate-federated.js";
import { svgToPng } from "./accuracy/svg-to-png.js";
import {
  type FigureValue,
  isQuick,
  median,
  option,
  RESULTS_DIRECTORY,
  type ResultTable,
  resultsName,
  round,
  secondsSince,
  writeResults,
} from "./harness.js";

const quick = isQuick();
const bitWidths = option("bits", "4,8,16").split(",").map(Number);
for (const bits of bitWidths) {
  if (![4, 8, 16].includes(bits)) {
    throw new InvalidArgumentError(`--bits ${bits}: this benchmark measures 4, 8 and 16`);
  }
}
const TARGET = 0.85;
const COLORS: Record<number, string> = { 4: "#d1495b", 8: "#edae49", 16: "#00798c" };
const FMNIST_SCHEMA = { featureShape: [28, 28, 1], min: 0, max: 1, classes: 10 };
const PARAMETERS = parameterCount("mlp", FMNIST_SCHEMA);
const roundsAfterTargetOption = option("rounds-after-target", "5");
/** A run stops this many rounds after first reaching the target; "all" runs to the cap. */
const roundsAfterTarget =
  roundsAfterTargetOption === "all" ? undefined : Number(roundsAfterTargetOption);
const settings = {
  quick,
  dataset: "fashion-mnist",
  model: "mlp",
  parameters: PARAMETERS,
  strategy: "fedavg",
  partition: "dirichlet:0.5",
  clients: quick ? 20 : 100,
  clientsPerRound: quick ? 4 : 10,
  localEpochs: 1,
  batchSize: 32,
  learningRate: Number(option("lr", "0.1")),
  clipNorm: 5,
  stochasticRounding: true,
  seed: Number(option("seed", "1")),
  target: TARGET,
  roundCap: Number(option("rounds", quick ? "3" : "130")),
  /** Rounds every width is compared at, whatever its rounds to the target. */
  budget: Number(option("budget", quick ? "2" : "100")),
  roundsAfterTarget: roundsAfterTarget ?? "all",
  proofRepeats: Number(option("proof-repeats", quick ? "1" : "3")),
  holdoutFraction: 0.1,
};
const skipAccuracy = process.argv.includes("--skip-accuracy");
const skipProofs = process.argv.includes("--skip-proofs");
const name = resultsName("bits-accuracy");
const pngPath = quick
  ? path.join(os.tmpdir(), `fedproof-${name}.png`)
  : path.join(RESULTS_DIRECTORY, `${name}.png`);
const context = {
  jobId: "bench-bits",
  round: 1,
  globalModelHash: "ab".repeat(32),
  deviceId: "bench-device",
  roundSeed: "5e".repeat(32),
};

interface AccuracyRun extends SimulateFederatedReturnType {
  bits: number;
  /** False while the run is going (written every few rounds) or when it was stopped. */
  complete: boolean;
  /** Test accuracy after `settings.budget` rounds; null when the run stopped before. */
  accuracyAtBudget: number | null;
  loadAverageAtStart: number;
  loadAverageAtEnd: number;
}

interface ProofRun {
  bits: number;
  circuitId: string;
  /** Values per chunk: a function of the bits (circuit-catalog.ts, productionChunkSize). */
  chunkSize: number;
  constraints: number;
  domainPower: number;
  zkeyMB: number;
  poolSize: number;
  /** ⌈199,210 / chunkSize⌉: the chunks of one mlp update. */
  chunksPerUpdate: number;
  /** Measured: one chunk on an otherwise idle pool, median of `proofRepeats`. */
  chunkSeconds: number;
  chunkRunSeconds: number[];
  /**
   * Measured: CPU seconds of this process (every thread) per chunk over the pooled run, which
   * the machine's load inflates far less than wall time; absent in runs before it was added.
   */
  cpuSecondsPerChunk?: number;
  /** Measured: `pooledChunks` chunks of the same update through the pool, per chunk. */
  pooledChunks: number;
  pooledSeconds: number;
  pooledSecondsPerChunk: number;
  /** Extrapolated: chunksPerUpdate × pooledSecondsPerChunk. */
  proveSecondsPerDeviceRound: number;
  /** Extrapolated: chunksPerUpdate × chunkSeconds (one chunk after another). */
  sequentialSecondsPerDeviceRound: number;
  pooledProofsVerified: boolean;
  loadAverageAtStart: number;
  loadAverageAtEnd: number;
}

const accuracy: AccuracyRun[] = [];
const proofs: ProofRun[] = [];
const errors: { run: string; message: string }[] = [];
const progress = (line: string) => process.stderr.write(`${line}\n`);
const started = performance.now();
const load = () => round(os.loadavg()[0] ?? 0, 2);

async function attempt(run: string, work: () => Promise<void>): Promise<void> {
  progress(`== ${run} (load ${load()})`);
  const runStarted = performance.now();
  try {
    await work();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    errors.push({ run, message });
    progress(`== ${run} failed: ${message}`);
  }
  progress(`== ${run}: ${secondsSince(runStarted).toFixed(0)} s`);
  await report();
}

let data: { pool: Dataset; test: Dataset } | undefined;
async function fashionMnist(): Promise<{ pool: Dataset; test: Dataset }> {
  data ??= {
    pool: await loadFashionMnist({ split: "train" }),
    test: await loadFashionMnist({ split: "test" }),
  };
  return data;
}

// Proofs first: their timings depend on the machine's load, the accuracy figures do not.
if (!skipProofs) {
  for (const bits of bitWidths) {
    await attempt(`proofs-${bits}-bits`, async () => {
      proofs.push(await measureProofs(bits));
    });
  }
}

if (!skipAccuracy) {
  for (const bits of bitWidths) {
    await attempt(`accuracy-${bits}-bits`, async () => {
      await prepareTrainingBackend("mlp", "wasm");
      const loadAverageAtStart = load();
      const { pool, test } = await fashionMnist();
      const entry = (result: SimulateFederatedReturnType, complete: boolean): AccuracyRun => ({
        bits,
        complete,
        ...result,
        // A run stops early past the target: null when it stopped before the budget.
        accuracyAtBudget:
          result.curve.find((point) => point.round === settings.budget)?.testAccuracy ?? null,
        loadAverageAtStart,
        loadAverageAtEnd: load(),
      });
      const result = await simulateFederated({
        preset: "mlp",
        pool,
        test,
        clients: settings.clients,
        clientsPerRound: settings.clientsPerRound,
        rounds: settings.roundCap,
        partition: settings.partition,
        learningRate: settings.learningRate,
        epochs: settings.localEpochs,
        batchSize: settings.batchSize,
        clipNorm: settings.clipNorm,
        bits,
        stochastic: settings.stochasticRounding,
        seed: settings.seed,
        target: TARGET,
        roundsAfterTarget,
        onProgress: (line) => progress(`  ${bits} bits: ${line}`),
        onRound: async ({ initialTestAccuracy, curve }) => {
          if (curve.length % 5 !== 0) return;
          setRun(entry(partialResult(bits, initialTestAccuracy, curve), false));
          await report();
        },
      });
      setRun(entry(result, true));
    });
  }
}

// With both phases skipped, only rewrites the results (tables, picture) from the file.
if (skipAccuracy && skipProofs) await report();

process.exit(errors.length > 0 ? 1 : 0);

function setRun(run: AccuracyRun): void {
  const index = accuracy.findIndex((r) => r.bits === run.bits);
  if (index >= 0) accuracy[index] = run;
  else accuracy.push(run);
}

/** What a run has measured after `curve.length` rounds, in the shape of a finished one. */
function partialResult(
  bits: number,
  initialTestAccuracy: number,
  curve: readonly SimulatedRound[],
): SimulateFederatedReturnType {
  const { quantization } = mlpSpec(bits);
  const last = curve.at(-1)!;
  return {
    initialTestAccuracy,
    initialModelHash: "",
    curve: [...curve],
    roundsToTarget: curve.find((point) => point.testAccuracy >= TARGET)?.round ?? null,
    finalTestAccuracy: last.testAccuracy,
    bestTestAccuracy: Math.max(...curve.map((point) => point.testAccuracy)),
    finalModelHash: last.modelHash,
    deviceSamples: { min: 0, median: 0, max: 0 },
    quantization,
    totalSeconds: curve.reduce((sum, point) => sum + point.seconds, 0),
  };
}

/** The benchmark's job at `bits`, as parseJobSpec fills it in (simulateFederated does the same). */
function mlpSpec(bits: number) {
  return parseJobSpec({
    model: "mlp",
    schema: FMNIST_SCHEMA,
    clipNorm: settings.clipNorm,
    quantization: { bits, stochastic: settings.stochasticRounding },
  });
}

/**
 * A real quantised mlp update at `bits`: a dense Δ at the clip norm (the worst case for the
 * norm bound), through the job spec's scale and the device's prepareUpdate.
 */
function mlpUpdate(bits: number): { q: Int32Array; c2: bigint } {
  const spec = mlpSpec(bits);
  const rng = createRng(settings.seed);
  const delta = Float32Array.from({ length: PARAMETERS }, () => rng.normal());
  let squared = 0;
  for (const value of delta) squared += value * value;
  const factor = spec.clipNorm / Math.sqrt(squared);
  for (let i = 0; i < delta.length; i++) delta[i] = delta[i]! * factor;
  const { q } = prepareUpdate({
    delta,
    clipNorm: spec.clipNorm,
    bits,
    scale: spec.quantization.scale,
    stochastic: true,
  });
  return { q, c2: quantizedNormBound(spec.clipNorm, spec.quantization.scale) };
}

async function measureProofs(bits: number): Promise<ProofRun> {
  const loadAverageAtStart = load();
  const { circuits, ptauPath } = await buildCircuits({
    dev: true,
    circuits: [updateNormCircuit(bits)],
  });
  const circuit = circuits[0]!;
  if (circuit.spec.kind !== "update-norm") throw new Error("unreachable");
  const { n } = circuit.spec;
  const srs = await readSrsFromPtau(ptauPath, n + 2);
  progress(
    `  ${circuit.id}: ${circuit.constraints} constraints, 2^${circuit.domainPower}, key ${(circuit.zkeyBytes / 2 ** 20).toFixed(1)} MB`,
  );
  const { q, c2 } = mlpUpdate(bits);
  const pool = await createProverPool({ wasm: circuit.wasmPath, zkey: circuit.zkeyPath });
  try {
    const pooledChunks = quick ? pool.size : 2 * pool.size;
    const part = q.subarray(0, pooledChunks * n);
    const { chunks } = await updateNormInputs({
      q: part,
      circuit: { n, bits },
      salt: 7n,
      context,
      c2,
      srs,
    });
    // Warm-up: each worker's first proof also builds its curve.
    await Promise.all(Array.from({ length: pool.size }, () => pool.prove(chunks[0]!.input)));
    const chunkRunSeconds: number[] = [];
    for (let repeat = 0; repeat < settings.proofRepeats; repeat++) {
      const chunkStarted = performance.now();
      await pool.prove(chunks[repeat % chunks.length]!.input);
      chunkRunSeconds.push(secondsSince(chunkStarted));
    }
    const pooledStarted = performance.now();
    const cpuBefore = process.cpuUsage();
    const pooled = await proveUpdate({
      q: part,
      circuit: { n, bits },
      salt: 7n,
      context,
      c2,
      srs,
      prover: pool.prove,
      concurrency: pool.size,
    });
    const pooledSeconds = secondsSince(pooledStarted);
    const cpu = process.cpuUsage(cpuBefore);
    const verified = await batchVerifyGroth16(
      circuit.verificationKey,
      pooled.proofs as ProofWithSignals[],
    );
    const chunksPerUpdate = chunkCount(PARAMETERS, { n, bits });
    const chunkSeconds = median(chunkRunSeconds);
    const pooledSecondsPerChunk = pooledSeconds / pooled.proofs.length;
    progress(
      `  ${bits} bits: one chunk ${chunkSeconds.toFixed(1)} s, ${pooled.proofs.length} pooled ${pooledSeconds.toFixed(1)} s; ${chunksPerUpdate} chunks per mlp update ≈ ${(chunksPerUpdate * pooledSecondsPerChunk).toFixed(0)} s`,
    );
    return {
      bits,
      circuitId: circuit.id,
      chunkSize: n,
      constraints: circuit.constraints,
      domainPower: circuit.domainPower,
      zkeyMB: round(circuit.zkeyBytes / 2 ** 20, 1),
      poolSize: pool.size,
      chunksPerUpdate,
      chunkSeconds,
      chunkRunSeconds,
      cpuSecondsPerChunk: (cpu.user + cpu.system) / 1e6 / pooled.proofs.length,
      pooledChunks: pooled.proofs.length,
      pooledSeconds,
      pooledSecondsPerChunk,
      proveSecondsPerDeviceRound: chunksPerUpdate * pooledSecondsPerChunk,
      sequentialSecondsPerDeviceRound: chunksPerUpdate * chunkSeconds,
      pooledProofsVerified: verified.valid,
      loadAverageAtStart,
      loadAverageAtEnd: load(),
    };
  } finally {
    await pool.close();
  }
}

/**
 * Runs of an earlier invocation for the widths and phases this one does not measure, read back
 * from the results file: `--bits 4 --skip-proofs` and `--bits 8,16 --skip-accuracy` may run one
 * after the other, or side by side on a machine with the cores, and leave one complete file.
 */
function keepEarlierRuns(): void {
  const jsonPath = path.join(RESULTS_DIRECTORY, `${name}.json`);
  if (!existsSync(jsonPath)) return;
  const earlier = JSON.parse(readFileSync(jsonPath, "utf8")) as {
    settings?: { learningRate?: number; seed?: number; clients?: number };
    accuracy?: AccuracyRun[];
    proofs?: ProofRun[];
  };
  const same = earlier.settings;
  if (
    same?.learningRate !== settings.learningRate ||
    same?.seed !== settings.seed ||
    same?.clients !== settings.clients
  ) {
    return;
  }
  const keep = <T extends { bits: number }>(
    runs: T[],
    theirs: T[] | undefined,
    skipped: boolean,
  ) => {
    const measuredHere = (bits: number) => !skipped && bitWidths.includes(bits);
    const own = runs.filter((run) => measuredHere(run.bits));
    const others = (theirs ?? []).filter((run) => !measuredHere(run.bits));
    runs.splice(0, runs.length, ...[...own, ...others].sort((a, b) => a.bits - b.bits));
  };
  keep(accuracy, earlier.accuracy, skipAccuracy);
  // Runs kept from a run with another --budget are read at this one's.
  for (const run of accuracy) {
    run.accuracyAtBudget =
      run.curve.find((point) => point.round === settings.budget)?.testAccuracy ?? null;
  }
  keep(proofs, earlier.proofs, skipProofs);
}

interface ReferenceProof {
  bits: number;
  circuitId: string;
  chunkSize: number;
  chunksPerUpdate: number;
  pooledSecondsPerChunk: number;
  proveSecondsPerDeviceRound: number;
}

/**
 * The same chunk circuits as proven by `benchmarks/proofs.ts --pipeline` (results/proofs.json,
 * its own date and load), extrapolated the same way: a second view of the proving cost for a
 * machine less loaded than this run's, or for widths this run could not measure.
 */
function referenceProofs(): {
  source: string;
  date: string;
  load: string;
  runs: ReferenceProof[];
} | null {
  const jsonPath = path.join(RESULTS_DIRECTORY, "proofs.json");
  if (!existsSync(jsonPath)) return null;
  const pipeline = (
    JSON.parse(readFileSync(jsonPath, "utf8")) as {
      pipeline?: {
        date: string;
        machine: { loadAverageAtStart: number; loadAverageAtEnd: number };
        value: {
          bits: number;
          circuitId: string;
          n: number;
          chunks: number;
          pooledSeconds: number;
        }[];
      };
    }
  ).pipeline;
  if (!pipeline) return null;
  return {
    source: "benchmarks/results/proofs.json, pipeline (pooled chunks of the production circuit)",
    date: pipeline.date,
    load: `${pipeline.machine.loadAverageAtStart} → ${pipeline.machine.loadAverageAtEnd}`,
    runs: pipeline.value.map((r) => {
      const chunksPerUpdate = chunkCount(PARAMETERS, { n: r.n, bits: r.bits });
      const pooledSecondsPerChunk = r.pooledSeconds / r.chunks;
      return {
        bits: r.bits,
        circuitId: r.circuitId,
        chunkSize: r.n,
        chunksPerUpdate,
        pooledSecondsPerChunk,
        proveSecondsPerDeviceRound: chunksPerUpdate * pooledSecondsPerChunk,
      };
    }),
  };
}

/** The widths this run measures and those kept from earlier runs, in order. */
function shownWidths(): number[] {
  return [4, 8, 16].filter(
    (bits) =>
      bitWidths.includes(bits) ||
      accuracy.some((run) => run.bits === bits) ||
      proofs.some((run) => run.bits === bits),
  );
}

/** Writes the JSON, the markdown and the picture from whatever has been measured so far. */
async function report(): Promise<void> {
  keepEarlierRuns();
  const summary: Record<string, FigureValue> = {};
  for (const bits of shownWidths()) {
    const run = accuracy.find((r) => r.bits === bits);
    const proof = proofs.find((r) => r.bits === bits);
    summary[`roundsTo085At${bits}Bits`] = run ? run.roundsToTarget : null;
    summary[`accuracyAfter${settings.budget}RoundsAt${bits}Bits`] =
      run?.accuracyAtBudget != null ? round(run.accuracyAtBudget, 4) : null;
    summary[`bestAccuracyAt${bits}Bits`] = run ? round(run.bestTestAccuracy, 4) : null;
    summary[`quantizationScaleAt${bits}Bits`] = run
      ? Number(run.quantization.scale.toPrecision(4))
      : null;
    summary[`chunkSizeAt${bits}Bits`] = proof?.chunkSize ?? null;
    summary[`chunksPerMlpUpdateAt${bits}Bits`] = proof?.chunksPerUpdate ?? null;
    summary[`proveChunkSecondsAt${bits}Bits`] = proof ? round(proof.chunkSeconds, 2) : null;
    summary[`proveSecondsPerDeviceRoundAt${bits}Bits`] = proof
      ? round(proof.proveSecondsPerDeviceRound, 1)
      : null;
  }
  const reference = referenceProofs();
  for (const bits of shownWidths()) {
    const r = reference?.runs.find((run) => run.bits === bits);
    summary[`proveSecondsPerDeviceRoundAt${bits}BitsFromProofsJson`] = r
      ? round(r.proveSecondsPerDeviceRound, 1)
      : null;
  }
  summary.roundCap = settings.roundCap;
  summary.roundBudget = settings.budget;
  summary.measured = "test accuracy per round; one chunk proof and a pool of chunks at each width";
  summary.extrapolated = "proving seconds per device per round: chunks per update × pooled rate";

  let picture: string | null = null;
  if (accuracy.length > 0) {
    try {
      await svgToPng(renderFigure(), pngPath);
      picture = path.relative(path.dirname(RESULTS_DIRECTORY), pngPath);
    } catch (error) {
      progress(`no picture: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  writeResults(
    name,
    {
      summary,
      settings,
      picture,
      totalSeconds: round(secondsSince(started), 1),
      accuracy: accuracy.map(({ curve, ...rest }) => ({
        ...rest,
        curve: curve.map((point) => ({
          round: point.round,
          testAccuracy: point.testAccuracy,
          testLoss: point.testLoss,
          accepted: point.accepted,
          seconds: round(point.seconds, 2),
        })),
      })),
      proofs,
      referenceProofs: reference,
      errors,
    },
    tables(),
  );
}

function proofLabel(bits: number): string {
  const proof = proofs.find((r) => r.bits === bits);
  return proof ? `, proving ≈ ${Math.round(proof.proveSecondsPerDeviceRound)} s` : "";
}

function renderFigure(): string {
  return renderCurvesSvg({
    panelWidth: 900,
    panels: [
      {
        title: `mlp on Fashion-MNIST: FedAvg, ${settings.clients} devices, Dirichlet(0.5), ${settings.clientsPerRound} per round`,
        xLabel: "round",
        yLabel: "test accuracy (10,000 images)",
        xMax: Math.max(settings.budget, ...accuracy.map((run) => run.curve.length)),
        yMin: 0.5,
        yMax: 0.9,
        references: [{ y: TARGET, label: `target ${TARGET}` }],
        series: accuracy.map((run) => ({
          label: `${run.bits} bits${run.roundsToTarget === null ? " (target not reached)" : `: ${TARGET} at ${run.roundsToTarget}`}${proofLabel(run.bits)}`,
          color: COLORS[run.bits] ?? "#333333",
          points: [
            [0, run.initialTestAccuracy] as const,
            ...run.curve.map((point) => [point.round, point.testAccuracy] as const),
          ],
        })),
      },
    ],
    caption: `Stochastic rounding from the CSPRNG, scale = C/max(2^(bits−1)−1, √P) (P = ${PARAMETERS.toLocaleString("en")}), clip norm ${settings.clipNorm}, local SGD lr ${settings.learningRate}, E=1, B=32, seed ${settings.seed}. Legend: round the target was reached; UpdateNorm proving seconds per device per round, chunks on a ${proofs[0]?.poolSize ?? "—"}-worker prover pool, ${os.cpus().length} cores, extrapolated from measured chunks. ${new Date().toISOString().slice(0, 10)}.`,
  });
}

function tables(): ResultTable[] {
  const out: ResultTable[] = [
    {
      title: "Quantisation bits: accuracy and proving cost (mlp, 199,210 parameters)",
      columns: [
        "bits",
        "scale",
        `rounds to ${TARGET}`,
        `accuracy after ${settings.budget} rounds`,
        "best",
        "rounds run",
        "chunk size",
        "chunks",
        "one chunk s",
        "prove s / device / round",
        "same, proofs.json pool",
      ],
      rows: shownWidths().map((bits) => {
        const run = accuracy.find((r) => r.bits === bits);
        const proof = proofs.find((r) => r.bits === bits);
        return [
          bits,
          run ? run.quantization.scale.toPrecision(3) : "—",
          run ? (run.roundsToTarget ?? `not reached in ${run.curve.length}`) : "—",
          run?.accuracyAtBudget != null ? round(run.accuracyAtBudget, 4) : "—",
          run ? round(run.bestTestAccuracy, 4) : "—",
          run ? run.curve.length : "—",
          proof?.chunkSize ?? "—",
          proof?.chunksPerUpdate ?? "—",
          proof ? round(proof.chunkSeconds, 2) : "—",
          proof ? round(proof.proveSecondsPerDeviceRound, 1) : "—",
          (() => {
            const r = referenceProofs()?.runs.find((run) => run.bits === bits);
            return r ? round(r.proveSecondsPerDeviceRound, 1) : "—";
          })(),
        ];
      }),
      note: [
        `FedAvg (in-process simulation of the demo's job), ${settings.clients} devices, ${settings.partition}, ${settings.clientsPerRound} per round, E = 1, B = 32, lr ${settings.learningRate}, clip norm ${settings.clipNorm},`,
        `stochastic rounding from the CSPRNG. Runs stop ${settings.roundsAfterTarget} rounds after first reaching ${TARGET}, at ${settings.roundCap} rounds at most.`,
        `"one chunk s" is measured (median of ${settings.proofRepeats} after a warm-up); "prove s / device / round" is extrapolated: chunks × the measured per-chunk time of ${proofs[0]?.pooledChunks ?? "—"} chunks on the ${proofs[0]?.poolSize ?? "—"}-worker prover pool. "same, proofs.json pool": the per-chunk time of the same circuits in benchmarks/proofs.ts --pipeline (${referenceProofs()?.date.slice(0, 10) ?? "—"}, load ${referenceProofs()?.load ?? "—"}) × chunks. The DataValidity proof is not included.`,
      ].join(" "),
    },
  ];
  if (proofs.length > 0) {
    out.push({
      title: "UpdateNorm chunk circuits and measured proofs",
      columns: [
        "bits",
        "circuit",
        "constraints",
        "domain",
        "key MB",
        "pool",
        "one chunk runs s",
        "CPU s / chunk",
        "pooled chunks",
        "pooled s",
        "verified",
        "load",
      ],
      rows: proofs.map((r) => [
        r.bits,
        r.circuitId,
        r.constraints,
        `2^${r.domainPower}`,
        r.zkeyMB,
        r.poolSize,
        r.chunkRunSeconds.map((s) => s.toFixed(1)).join(", "),
        r.cpuSecondsPerChunk === undefined ? "—" : round(r.cpuSecondsPerChunk, 1),
        r.pooledChunks,
        round(r.pooledSeconds, 1),
        r.pooledProofsVerified ? "yes" : "NO",
        `${r.loadAverageAtStart} → ${r.loadAverageAtEnd}`,
      ]),
      note: "Development (INSECURE) keys: the costs are those of ceremony keys. Load = 1-minute load average before and after; other jobs shared the 2 cores.",
    });
  }
  for (const run of accuracy) {
    const every = Math.max(1, Math.ceil(run.curve.length / 20));
    out.push({
      title: `Curve: ${run.bits} bits`,
      columns: ["round", "test accuracy", "test loss", "seconds"],
      rows: run.curve
        .filter((point, index) => index % every === every - 1 || point.round === run.roundsToTarget)
        .map((point) => [
          point.round,
          round(point.testAccuracy, 4),
          round(point.testLoss, 4),
          round(point.seconds, 1),
        ]),
      note: `Load ${run.loadAverageAtStart} → ${run.loadAverageAtEnd}.${every > 1 ? ` Every ${every}th round and the round the target was first reached; all rounds are in the JSON.` : ""}`,
    });
  }
  return out;
}
