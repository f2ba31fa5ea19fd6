import { DATASET_SCHEMAS } from "../../cli/commands/job-spec-options.js";
import { type DemoResult, runDemo } from "../../cli/demo/run-demo.js";
import type { PreferredBackend } from "../../client/node/backend.js";

export interface RunAccuracyBenchmarkParameters {
  clients: number;
  clientsPerRound: number;
  rounds: number;
  /** e.g. "dirichlet:0.5". */
  partition: string;
  learningRate: number;
  epochs: number;
  seed?: number;
  backend?: PreferredBackend;
  onProgress?: (line: string) => void;
}

export interface AccuracyCurvePoint {
  round: number;
  testAccuracy: number;
  testLoss: number;
  accepted: number;
  rejected: number;
  late: number;
  seconds: number;
}

export interface RunAccuracyBenchmarkReturnType {
  settings: {
    model: "mlp";
    dataset: "fashion-mnist";
    clients: number;
    clientsPerRound: number;
    rounds: number;
    partition: string;
    learningRate: number;
    epochs: number;
    batchSize: number;
    clipNorm: number;
    seed: number;
    /** Where the demo's Redis came from: REDIS_URL, or a private redis-server it started. */
    redis: string;
  };
  backend: string;
  initialTestAccuracy: number;
  curve: AccuracyCurvePoint[];
  finalTestAccuracy: number;
  bestTestAccuracy: number;
  /** First round whose model reached `target` on the test set; null when none did. */
  firstRoundAtTarget: number | null;
  totalSeconds: number;
  jobId: string;
  finalModelHash: string;
}

export const ACCURACY_TARGET = 0.8;

const BATCH_SIZE = 32;
const CLIP_NORM = 5;

/**
 * `mlp` on Fashion-MNIST through the real demo pipeline: Redis, the coordinator with its
 * workers, one process per simulated device, each round's global model scored on the 10,000
 * test images. The job spec is the one `fedproof demo` builds from its flags.
 */
export async function runAccuracyBenchmark(
  p: RunAccuracyBenchmarkParameters,
): Promise<RunAccuracyBenchmarkReturnType> {
  const seed = p.seed ?? 1;
  const schema = DATASET_SCHEMAS["fashion-mnist"];
  const result: DemoResult = await runDemo({
    clients: p.clients,
    dataset: "fashion-mnist",
    partition: p.partition,
    seed,
    backend: p.backend ?? "auto",
    logLevel: "warn",
    onProgress: p.onProgress ?? (() => {}),
    spec: {
      name: "bench-accuracy-fashion-mnist-mlp",
      model: "mlp",
      schema: { ...schema, featureShape: [...schema.featureShape] },
      rounds: p.rounds,
      clientsPerRound: p.clientsPerRound,
      minClients: Math.max(1, Math.ceil(p.clientsPerRound * 0.75)),
      minAvailableClients: p.clients,
      overSelection: 1.25,
      roundDeadlineSeconds: 300,
      clipNorm: CLIP_NORM,
      training: { epochs: p.epochs, batchSize: BATCH_SIZE, learningRate: p.learningRate },
      seed,
    },
  });
  const curve = result.rounds.map((round) => ({
    round: round.round,
    testAccuracy: round.testAccuracy,
    testLoss: round.testLoss,
    accepted: round.accepted,
    rejected: round.rejected,
    late: round.late,
    seconds: round.seconds,
  }));
  const atTarget = curve.find((point) => point.testAccuracy >= ACCURACY_TARGET);
  return {
    settings: {
      model: "mlp",
      dataset: "fashion-mnist",
      clients: p.clients,
      clientsPerRound: p.clientsPerRound,
      rounds: p.rounds,
      partition: p.partition,
      learningRate: p.learningRate,
      epochs: p.epochs,
      batchSize: BATCH_SIZE,
      clipNorm: CLIP_NORM,
      seed,
      redis: process.env.REDIS_URL ? "REDIS_URL" : "private redis-server started by the demo",
    },
    backend: result.backend,
    initialTestAccuracy: result.initialTestAccuracy,
    curve,
    finalTestAccuracy: curve.at(-1)?.testAccuracy ?? Number.NaN,
    bestTestAccuracy: Math.max(...curve.map((point) => point.testAccuracy)),
    firstRoundAtTarget: atTarget?.round ?? null,
    totalSeconds: result.totalSeconds,
    jobId: result.jobId,
    finalModelHash: result.finalModelHash,
  };
}
