import { DATASET_SCHEMAS } from "../../cli/commands/job-spec-options.js";
import { runDemo } from "../../cli/demo/run-demo.js";
import type { ByzantineAttack } from "../../client/core/byzantine.js";
import type { PreferredBackend } from "../../client/node/backend.js";
import type { JobSpecInput } from "../../protocol/job/job-spec.js";
import type { StrategyName } from "../../protocol/job/strategy-spec.js";

/** The presets a job spec accepts (a subset of the client's presets until the spec lists all). */
export type JobModel = NonNullable<JobSpecInput["model"]>;

export interface RunStrategyCaseParameters {
  strategy: StrategyName;
  /** Passed through `spec.strategy.params` (e.g. `{ beta: 0.2 }`, `{ byzantine: 2 }`). */
  strategyParams: Record<string, number>;
  /** Absent: every device is honest. */
  byzantine?: { count: number; attack: ByzantineAttack };
  model: JobModel;
  clients: number;
  rounds: number;
  partition: string;
  learningRate: number;
  clipNorm: number;
  seed: number;
  backend?: PreferredBackend;
  onProgress?: (line: string) => void;
}

export interface StrategyCaseRound {
  round: number;
  testAccuracy: number;
  testLoss: number;
  accepted: number;
  rejected: number;
  late: number;
  seconds: number;
}

export interface RunStrategyCaseReturnType {
  strategy: StrategyName;
  strategyParams: Record<string, number>;
  /** "none" or "COUNT:ATTACK", as the demo reports it. */
  byzantine: string;
  backend: string;
  initialTestAccuracy: number;
  rounds: StrategyCaseRound[];
  finalTestAccuracy: number;
  /** Mean of the last three rounds: less sensitive to one round's wobble than the final one. */
  lastThreeMeanTestAccuracy: number;
  totalSeconds: number;
}

/**
 * One federated run through the real demo pipeline (Redis, coordinator, workers, one
 * process per device) with every device selected in every round, so that each aggregation
 * sees exactly `byzantine.count` attackers among `clients` updates.
 */
export async function runStrategyCase(
  p: RunStrategyCaseParameters,
): Promise<RunStrategyCaseReturnType> {
  const schema = DATASET_SCHEMAS["fashion-mnist"];
  const result = await runDemo({
    clients: p.clients,
    dataset: "fashion-mnist",
    partition: p.partition,
    seed: p.seed,
    backend: p.backend ?? "auto",
    logLevel: "warn",
    byzantine: p.byzantine,
    onProgress: p.onProgress ?? (() => {}),
    spec: {
      name: `bench-robustness-${p.strategy}-${p.byzantine ? `${p.byzantine.count}-${p.byzantine.attack}` : "honest"}`,
      model: p.model,
      schema: { ...schema, featureShape: [...schema.featureShape] },
      rounds: p.rounds,
      // All devices, all rounds: a round that closed without the attackers would flatter
      // the strategy, one without honest devices would condemn it.
      clientsPerRound: p.clients,
      minClients: p.clients,
      minAvailableClients: p.clients,
      overSelection: 1,
      roundDeadlineSeconds: 600,
      clipNorm: p.clipNorm,
      training: { epochs: 1, batchSize: 32, learningRate: p.learningRate },
      seed: p.seed,
      strategy: { name: p.strategy, params: p.strategyParams },
    },
  });
  const rounds = result.rounds.map((round) => ({
    round: round.round,
    testAccuracy: round.testAccuracy,
    testLoss: round.testLoss,
    accepted: round.accepted,
    rejected: round.rejected,
    late: round.late,
    seconds: round.seconds,
  }));
  const lastThree = rounds.slice(-3).map((round) => round.testAccuracy);
  return {
    strategy: p.strategy,
    strategyParams: p.strategyParams,
    byzantine: result.byzantine,
    backend: result.backend,
    initialTestAccuracy: result.initialTestAccuracy,
    rounds,
    finalTestAccuracy: rounds.at(-1)?.testAccuracy ?? Number.NaN,
    lastThreeMeanTestAccuracy:
      lastThree.length > 0
        ? lastThree.reduce((sum, value) => sum + value, 0) / lastThree.length
        : Number.NaN,
    totalSeconds: result.totalSeconds,
  };
}
