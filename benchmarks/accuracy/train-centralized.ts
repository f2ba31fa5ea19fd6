import { evaluate, trainLocal } from "../../client/core/train.js";
import type { Dataset } from "../../protocol/data/dataset.js";
import { createModel, type ModelPreset } from "../../protocol/model/presets.js";
import { deriveSeed } from "../../protocol/random.js";

export interface TrainCentralizedParameters {
  preset: ModelPreset;
  train: Dataset;
  test: Dataset;
  epochs: number;
  batchSize: number;
  learningRate: number;
  seed: number;
  onProgress?: (line: string) => void;
}

export interface CentralizedEpoch {
  epoch: number;
  testAccuracy: number;
  testLoss: number;
  trainLoss: number;
  seconds: number;
}

export interface TrainCentralizedReturnType {
  initialTestAccuracy: number;
  epochs: CentralizedEpoch[];
  samplesPerSecond: number;
}

/**
 * The centralized baseline: one model, all the training records, the same local optimiser
 * the devices use (trainLocal: minibatch SGD, same batch size and learning rate), test
 * accuracy after every epoch. Runs on whichever tfjs backend is active.
 */
export async function trainCentralized(
  p: TrainCentralizedParameters,
): Promise<TrainCentralizedReturnType> {
  const model = createModel(p.preset, p.train.schema, p.seed);
  const log = p.onProgress ?? (() => {});
  try {
    const initial = await evaluate(model, p.test);
    const epochs: CentralizedEpoch[] = [];
    let trainedSeconds = 0;
    for (let epoch = 1; epoch <= p.epochs; epoch++) {
      // One epoch per call, each with its own shuffle, so accuracy can be read in between.
      const trained = await trainLocal({
        model,
        data: p.train,
        epochs: 1,
        batchSize: p.batchSize,
        learningRate: p.learningRate,
        seed: deriveSeed(p.seed, epoch),
      });
      trainedSeconds += trained.seconds;
      const measured = await evaluate(model, p.test);
      epochs.push({
        epoch,
        testAccuracy: measured.accuracy,
        testLoss: measured.loss,
        trainLoss: trained.loss,
        seconds: trained.seconds,
      });
      log(
        `centralized ${p.preset} epoch ${epoch}/${p.epochs}: test accuracy ${measured.accuracy.toFixed(4)}, train loss ${trained.loss.toFixed(4)}, ${trained.seconds.toFixed(1)} s`,
      );
    }
    return {
      initialTestAccuracy: initial.accuracy,
      epochs,
      samplesPerSecond: trainedSeconds > 0 ? (p.train.size * p.epochs) / trainedSeconds : 0,
    };
  } finally {
    model.dispose();
  }
}
