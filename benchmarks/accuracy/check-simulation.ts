import { loadFashionMnist } from "../../client/node/fashion-mnist.js";
import { prepareTrainingBackend } from "../../client/node/training-backend.js";
import { runFederatedCurve } from "./run-federated-curve.js";
import { simulateFederated } from "./simulate-federated.js";

export interface CheckPipelineParameters {
  learningRate: number;
  clipNorm: number;
  seed: number;
  onProgress?: (line: string) => void;
}

export interface CheckPipelineReturnType {
  settings: {
    model: "mlp";
    clients: number;
    clientsPerRound: number;
    rounds: number;
    partition: string;
  };
  /** Per round: the model hash the demo's coordinator stored and the one simulated. */
  rounds: { round: number; demo: string; simulation: string; match: boolean }[];
  demoTestAccuracy: number;
  simulationTestAccuracy: number;
  /** Every round's model identical, byte for byte. */
  identical: boolean;
  demoSeconds: number;
  simulationSeconds: number;
}

const CHECK = {
  model: "mlp",
  clients: 10,
  clientsPerRound: 5,
  rounds: 3,
  partition: "dirichlet:0.5",
} as const;

/**
 * Runs one small job both ways, through the demo (coordinator, workers, one process per
 * device) and through `simulateFederated`, and compares the models round by round. Equal
 * hashes mean the simulation leaves nothing out that changes the model, so its curves for
 * 100 devices are the curves the demo would draw on a machine with the memory for them.
 */
export async function checkSimulationAgainstDemo(
  p: CheckPipelineParameters,
): Promise<CheckPipelineReturnType> {
  const common = {
    clients: CHECK.clients,
    clientsPerRound: CHECK.clientsPerRound,
    rounds: CHECK.rounds,
    partition: CHECK.partition,
    learningRate: p.learningRate,
    epochs: 1,
    batchSize: 32,
    clipNorm: p.clipNorm,
    seed: p.seed,
    target: 1,
    onProgress: p.onProgress,
  };
  const demo = await runFederatedCurve({ model: CHECK.model, backend: "wasm", ...common });
  await prepareTrainingBackend(CHECK.model, "wasm");
  const [pool, test] = await Promise.all([
    loadFashionMnist({ split: "train" }),
    loadFashionMnist({ split: "test" }),
  ]);
  const simulation = await simulateFederated({ preset: CHECK.model, pool, test, ...common });
  const rounds = simulation.curve.map((point, index) => {
    const demoHash = demo.modelHashes[index] ?? "";
    return {
      round: point.round,
      demo: demoHash,
      simulation: point.modelHash,
      match: demoHash === point.modelHash,
    };
  });
  return {
    settings: { ...CHECK },
    rounds,
    demoTestAccuracy: demo.finalTestAccuracy,
    simulationTestAccuracy: simulation.finalTestAccuracy,
    identical: rounds.length === CHECK.rounds && rounds.every((round) => round.match),
    demoSeconds: demo.totalSeconds,
    simulationSeconds: simulation.totalSeconds,
  };
}
