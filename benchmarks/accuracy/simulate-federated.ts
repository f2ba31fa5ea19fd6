import { createHash } from "node:crypto";
import * as tf from "@tensorflow/tfjs";
import { parsePartition, partition } from "../../client/core/data/partition.js";
import { computeDelta, evaluate, trainLocal } from "../../client/core/train.js";
import { prepareUpdate } from "../../client/core/update/prepare-update.js";
import { InvalidArgumentError } from "../../common/errors.js";
import { createStrategy } from "../../coordinator/aggregation/create-strategy.js";
import type { ClientUpdate, StrategyState } from "../../coordinator/aggregation/types.js";
import { selectClients } from "../../coordinator/round/select-clients.js";
import { type Dataset, splitHoldout, subset } from "../../protocol/data/dataset.js";
import { aggregationWeight } from "../../protocol/job/aggregation-weight.js";
import { parseJobSpec } from "../../protocol/job/job-spec.js";
import type { StrategySpecInput } from "../../protocol/job/strategy-spec.js";
import { createModel, type ModelPreset } from "../../protocol/model/presets.js";
import { encodeModel, getFlatWeights, setFlatWeights } from "../../protocol/model/weights.js";
import { deriveSeed } from "../../protocol/random.js";
import { decodeUpdate, dequantize } from "../../protocol/update/quantize.js";

export interface SimulateFederatedParameters {
  preset: ModelPreset;
  /** The whole training pool the devices' partitions are cut from (all 60,000 records). */
  pool: Dataset;
  test: Dataset;
  clients: number;
  clientsPerRound: number;
  rounds: number;
  /** "iid" or "dirichlet:ALPHA". */
  partition: string;
  learningRate: number;
  epochs: number;
  batchSize: number;
  clipNorm: number;
  /** Quantisation bits of the uploaded Δ; the job spec's default is 16. */
  bits?: number;
  /**
   * Stochastic rounding (the job field `quantization.stochastic`, default false): each device
   * then rounds with the platform CSPRNG, as `fedproof client` does, so such a run is not
   * reproducible bit for bit.
   */
  stochastic?: boolean;
  holdoutFraction?: number;
  seed: number;
  strategy?: StrategySpecInput;
  /** Test accuracy whose first crossing is reported as `roundsToTarget`. */
  target: number;
  /**
   * Stop this many rounds after the target was first reached instead of running to
   * `rounds`: enough to see the curve stay up, without spending the cap on a settled run.
   */
  roundsAfterTarget?: number;
  onProgress?: (line: string) => void;
  /** After every round, with the curve so far: lets a long run keep what it measured. */
  onRound?: (progress: {
    initialTestAccuracy: number;
    curve: readonly SimulatedRound[];
  }) => void | Promise<void>;
}

export interface SimulatedRound {
  round: number;
  testAccuracy: number;
  testLoss: number;
  /** Devices aggregated this round. */
  accepted: number;
  /** Records the round's devices trained on. */
  trainSamples: number;
  /** sha256 of the round's model bytes, as the coordinator's artifact store names it. */
  modelHash: string;
  seconds: number;
}

export interface SimulateFederatedReturnType {
  initialTestAccuracy: number;
  initialModelHash: string;
  curve: SimulatedRound[];
  roundsToTarget: number | null;
  finalTestAccuracy: number;
  bestTestAccuracy: number;
  finalModelHash: string;
  /** Records per device (training part), min / median / max: how skewed the partition is. */
  deviceSamples: { min: number; median: number; max: number };
  /** The job spec's quantisation, as parseJobSpec filled it in (scale from C, bits and P). */
  quantization: { bits: number; scale: number; stochastic: boolean };
  totalSeconds: number;
}

/**
 * The demo's federated job computed in one process, step for step: the same partition of
 * the same pool per device (`loadSimulatedPartition`), the same held-out split and seeds
 * per device (`fedproof client`: device seed = seed·1000 + index), the coordinator's
 * client sampling (`selectClients`), the device's `trainLocal`, and its `prepareUpdate` (clip,
 * quantise with the job spec's bits, scale and rounding, encode), and the aggregate worker's
 * `decodeUpdate`, `dequantize`, weights and strategy, updates in device-id order.
 * What it leaves out is the transport: gRPC, Redis, the artifact store and one process per
 * device. That is what makes 100 devices fit on a small machine: each device process of
 * the demo loads the whole training pool and peaks near 500 MiB.
 */
export async function simulateFederated(
  p: SimulateFederatedParameters,
): Promise<SimulateFederatedReturnType> {
  const started = performance.now();
  const log = p.onProgress ?? (() => {});
  // The scale comes from the job spec's own rule, so it is the one devices receive.
  const spec = parseJobSpec({
    model: p.preset,
    schema: p.pool.schema,
    clipNorm: p.clipNorm,
    quantization: { bits: p.bits ?? 16, stochastic: p.stochastic ?? false },
  });
  const { bits, scale, stochastic } = spec.quantization;
  const parts = partition({
    spec: parsePartition(p.partition),
    labels: p.pool.y,
    classes: p.pool.schema.classes,
    clients: p.clients,
    seed: p.seed,
  });
  const devices = parts.map((indices, index) => {
    const seed = p.seed * 1000 + index;
    const { train } = splitHoldout(subset(p.pool, indices), p.holdoutFraction ?? 0.1, seed);
    if (train.size === 0) {
      throw new InvalidArgumentError(`device ${index} of ${p.clients} has no training records`);
    }
    return { id: `sim-${String(index).padStart(3, "0")}`, seed, train };
  });
  const byId = new Map(devices.map((device) => [device.id, device]));
  const sizes = devices.map((device) => device.train.size).sort((a, b) => a - b);

  const strategy = createStrategy(p.strategy ?? { name: "fedavg" });
  const model = createModel(p.preset, p.pool.schema, p.seed);
  try {
    let global = getFlatWeights(model);
    const initialModelHash = hashModel(global);
    const initial = await evaluate(model, p.test);
    let state: StrategyState | undefined;
    const curve: SimulatedRound[] = [];
    for (let round = 1; round <= p.rounds; round++) {
      const roundStarted = performance.now();
      const selected = selectClients({
        online: devices.map((device) => device.id),
        clientsPerRound: p.clientsPerRound,
        overSelection: 1,
        seed: p.seed,
        round,
      });
      const updates: ClientUpdate[] = [];
      let trainSamples = 0;
      for (const id of selected) {
        const device = byId.get(id)!;
        setFlatWeights(model, global);
        await trainLocal({
          model,
          data: device.train,
          epochs: p.epochs,
          batchSize: p.batchSize,
          learningRate: p.learningRate,
          proximalMu: strategy.clientConfig(round).proximalMu,
          seed: deriveSeed(device.seed, round),
        });
        const delta = computeDelta(getFlatWeights(model), global);
        // As client/node/device.ts calls it: no rng, so stochastic rounding draws from the CSPRNG.
        const update = prepareUpdate({ delta, clipNorm: spec.clipNorm, bits, scale, stochastic });
        updates.push({
          deviceId: id,
          delta: dequantize(decodeUpdate(update.bytes, bits, delta.length), scale),
          weight: aggregationWeight(device.train.size, spec),
        });
        trainSamples += device.train.size;
      }
      const aggregated = strategy.aggregate({ global, updates, state, round });
      global = aggregated.model;
      state = aggregated.state;
      setFlatWeights(model, global);
      const measured = await evaluate(model, p.test);
      const point: SimulatedRound = {
        round,
        testAccuracy: measured.accuracy,
        testLoss: measured.loss,
        accepted: updates.length,
        trainSamples,
        modelHash: hashModel(global),
        seconds: (performance.now() - roundStarted) / 1000,
      };
      curve.push(point);
      const reached = curve.find((entry) => entry.testAccuracy >= p.target)?.round;
      const stop =
        p.roundsAfterTarget !== undefined &&
        reached !== undefined &&
        round >= reached + p.roundsAfterTarget;
      log(
        `round ${round}/${p.rounds}: test accuracy ${point.testAccuracy.toFixed(4)} · ${trainSamples} records · ${point.seconds.toFixed(1)} s · ${tf.memory().numTensors} tensors${stop ? ` · stopping ${p.roundsAfterTarget} rounds after reaching ${p.target} in round ${reached}` : ""}`,
      );
      await p.onRound?.({ initialTestAccuracy: initial.accuracy, curve });
      if (stop) break;
    }
    return {
      initialTestAccuracy: initial.accuracy,
      initialModelHash,
      curve,
      roundsToTarget: curve.find((point) => point.testAccuracy >= p.target)?.round ?? null,
      finalTestAccuracy: curve.at(-1)?.testAccuracy ?? Number.NaN,
      bestTestAccuracy: Math.max(...curve.map((point) => point.testAccuracy)),
      finalModelHash: curve.at(-1)?.modelHash ?? initialModelHash,
      deviceSamples: {
        min: sizes[0]!,
        median: sizes[Math.floor(sizes.length / 2)]!,
        max: sizes.at(-1)!,
      },
      quantization: { bits, scale, stochastic },
      totalSeconds: (performance.now() - started) / 1000,
    };
  } finally {
    model.dispose();
  }
}

function hashModel(weights: Float32Array): string {
  return createHash("sha256").update(encodeModel(weights)).digest("hex");
}
