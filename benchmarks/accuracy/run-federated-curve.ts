import { DATASET_SCHEMAS } from "../../cli/commands/job-spec-options.js";
import { runDemo } from "../../cli/demo/run-demo.js";
import type { PreferredBackend } from "../../client/node/backend.js";
import type { JobSpecInput } from "../../protocol/job/job-spec.js";

export interface RunFederatedCurveParameters {
  model: NonNullable<JobSpecInput["model"]>;
  clients: number;
  clientsPerRound: number;
  rounds: number;
  /** "iid" or "dirichlet:ALPHA". */
  partition: string;
  learningRate: number;
  epochs: number;
  batchSize: number;
  clipNorm: number;
  seed: number;
  /** Test accuracy whose first crossing is reported as `roundsToTarget`. */
  target: number;
  backend?: PreferredBackend;
  onProgress?: (line: string) => void;
}

export interface FederatedCurvePoint {
  round: number;
  testAccuracy: number;
  testLoss: number;
  accepted: number;
  late: number;
  seconds: number;
}

export interface RunFederatedCurveReturnType {
  model: string;
  partition: string;
  backend: string;
  target: number;
  initialTestAccuracy: number;
  curve: FederatedCurvePoint[];
  /** First round whose global model reached `target` on the test set; null when none did. */
  roundsToTarget: number | null;
  finalTestAccuracy: number;
  bestTestAccuracy: number;
  totalSeconds: number;
  jobId: string;
  finalModelHash: string;
  /** The model hash of every round, in order. */
  modelHashes: string[];
}

/**
 * FedAvg as McMahan et al. 2017 ran it, through the real demo pipeline: `clients` devices
 * (one process each), exactly `clientsPerRound` of them sampled per round and all of them
 * aggregated (no over-selection, so no straggler is ever dropped: with label skew, dropping
 * the slowest, i.e. the largest, devices would bias the model), each round's global model
 * scored on the 10,000 test images.
 */
export async function runFederatedCurve(
  p: RunFederatedCurveParameters,
): Promise<RunFederatedCurveReturnType> {
  const schema = DATASET_SCHEMAS["fashion-mnist"];
  const result = await runDemo({
    clients: p.clients,
    dataset: "fashion-mnist",
    partition: p.partition,
    seed: p.seed,
    backend: p.backend ?? "auto",
    logLevel: "warn",
    onProgress: p.onProgress ?? (() => {}),
    spec: {
      name: `bench-accuracy-${p.model}-${p.partition.replace(":", "-")}`,
      model: p.model,
      schema: { ...schema, featureShape: [...schema.featureShape] },
      rounds: p.rounds,
      clientsPerRound: p.clientsPerRound,
      minClients: p.clientsPerRound,
      minAvailableClients: p.clients,
      overSelection: 1,
      roundDeadlineSeconds: 600,
      clipNorm: p.clipNorm,
      training: { epochs: p.epochs, batchSize: p.batchSize, learningRate: p.learningRate },
      seed: p.seed,
      strategy: { name: "fedavg", params: {} },
    },
  });
  const curve = result.rounds.map((round) => ({
    round: round.round,
    testAccuracy: round.testAccuracy,
    testLoss: round.testLoss,
    accepted: round.accepted,
    late: round.late,
    seconds: round.seconds,
  }));
  return {
    model: p.model,
    partition: p.partition,
    backend: result.backend,
    target: p.target,
    initialTestAccuracy: result.initialTestAccuracy,
    curve,
    roundsToTarget: curve.find((point) => point.testAccuracy >= p.target)?.round ?? null,
    finalTestAccuracy: curve.at(-1)?.testAccuracy ?? Number.NaN,
    bestTestAccuracy: Math.max(...curve.map((point) => point.testAccuracy)),
    totalSeconds: result.totalSeconds,
    jobId: result.jobId,
    finalModelHash: result.finalModelHash,
    modelHashes: result.rounds.map((round) => round.modelHash),
  };
}
