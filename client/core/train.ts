import * as tf from "@tensorflow/tfjs";
import { FedproofError, InvalidArgumentError } from "../../common/errors.js";
import type { Dataset } from "../../protocol/data/dataset.js";
import { featureSize } from "../../protocol/data/dataset.js";
import { createRng } from "../../protocol/random.js";

/** Longest stretch of training between turns of the event loop. */
const YIELD_EVERY_MS = 50;

export interface TrainLocalParameters {
  model: tf.LayersModel;
  data: Dataset;
  epochs: number;
  batchSize: number;
  learningRate: number;
  /** Orders the records of every epoch; same seed, same data, same backend → same weights. */
  seed: number;
  /**
   * FedProx (Li et al., 2020): adds μ/2 · ‖w − w_start‖² to the loss, pulling the local model
   * towards the global model it started from. 0 or unset is plain FedAvg local training.
   */
  proximalMu?: number;
}

export interface TrainLocalReturnType {
  /** Records the device holds (the weight FedAvg gives its update). */
  samples: number;
  /** Mean training loss over the last epoch (without the proximal term). */
  loss: number;
  seconds: number;
  /** Records processed per second, all epochs counted. */
  samplesPerSecond: number;
}

/**
 * Plain minibatch SGD on sparse categorical cross-entropy. A hand-written loop rather than
 * `model.fit`, because fit shuffles with Math.random (not replayable) and has no place for
 * the proximal term. Every tensor it makes is released before it returns.
 */
export async function trainLocal(p: TrainLocalParameters): Promise<TrainLocalReturnType> {
  const { model, data } = p;
  const mu = p.proximalMu ?? 0;
  checkPositiveInteger("epochs", p.epochs);
  checkPositiveInteger("batchSize", p.batchSize);
  if (!(p.learningRate > 0) || !Number.isFinite(p.learningRate)) {
    throw new InvalidArgumentError(`learningRate must be a positive number, got ${p.learningRate}`);
  }
  if (!(mu >= 0) || !Number.isFinite(mu)) {
    throw new InvalidArgumentError(`proximalMu must be a non-negative number, got ${mu}`);
  }
  if (data.size === 0) throw new InvalidArgumentError("cannot train on an empty dataset");
  checkModelFitsData(model, data);

  const variables = model.trainableWeights.map((weight) => {
    const variable = weight.read();
    if (!(variable instanceof tf.Variable)) {
      throw new InvalidArgumentError(`weight ${weight.name} is not a trainable variable`);
    }
    return variable;
  });
  const optimizer = tf.train.sgd(p.learningRate);
  const anchors = mu > 0 ? variables.map((variable) => tf.clone(variable)) : [];
  const rng = createRng(p.seed);
  const order = Array.from({ length: data.size }, (_, i) => i);
  const started = performance.now();
  let lastYield = started;
  let lastEpochLoss = 0;
  try {
    for (let epoch = 0; epoch < p.epochs; epoch++) {
      rng.shuffle(order);
      let lossSum = 0;
      for (let start = 0; start < data.size; start += p.batchSize) {
        const batch = order.slice(start, start + p.batchSize);
        // Kept out of the tidy so the loss can be read after the step; the reported loss
        // leaves out the proximal term, so it compares across μ.
        let dataLoss: tf.Scalar | undefined;
        tf.tidy(() => {
          const { xs, labels } = batchTensors(data, batch);
          optimizer.minimize(
            () => {
              const predictions = model.apply(xs, { training: true }) as tf.Tensor;
              const loss = crossEntropy(predictions, labels, data.schema.classes);
              // A copy: minimize disposes the value it returns.
              dataLoss = tf.keep(tf.clone(loss));
              if (mu === 0) return loss;
              const drift = variables.map((v, i) => tf.sum(tf.square(tf.sub(v, anchors[i]))));
              return tf.add(loss, tf.mul(mu / 2, tf.addN(drift))) as tf.Scalar;
            },
            false,
            variables,
          );
        });
        if (!dataLoss) throw new FedproofError("training step produced no loss");
        const lossTensor: tf.Scalar = dataLoss;
        const total = (await lossTensor.data())[0];
        lossTensor.dispose();
        lossSum += total * batch.length;
        // Backends resolve data() as a microtask, so a long epoch would starve the event loop:
        // a device could not answer its coordinator's keepalive pings and would be dropped.
        if (performance.now() - lastYield > YIELD_EVERY_MS) {
          await new Promise((resolve) => setTimeout(resolve, 0));
          lastYield = performance.now();
        }
      }
      lastEpochLoss = lossSum / data.size;
    }
  } finally {
    optimizer.dispose();
    tf.dispose(anchors);
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    samples: data.size,
    loss: lastEpochLoss,
    seconds,
    samplesPerSecond: seconds > 0 ? (data.size * p.epochs) / seconds : Number.POSITIVE_INFINITY,
  };
}

export interface EvaluateReturnType {
  accuracy: number;
  /** Mean sparse categorical cross-entropy. */
  loss: number;
  samples: number;
}

const EVALUATION_BATCH = 512;

/** Accuracy and mean loss over `data`, in batches so that memory stays bounded. */
export async function evaluate(model: tf.LayersModel, data: Dataset): Promise<EvaluateReturnType> {
  if (data.size === 0) throw new InvalidArgumentError("cannot evaluate on an empty dataset");
  checkModelFitsData(model, data);
  let correct = 0;
  let lossSum = 0;
  for (let start = 0; start < data.size; start += EVALUATION_BATCH) {
    const indices = Array.from(
      { length: Math.min(EVALUATION_BATCH, data.size - start) },
      (_, i) => start + i,
    );
    const [hits, loss] = tf.tidy(() => {
      const { xs, labels } = batchTensors(data, indices);
      const predictions = model.predict(xs) as tf.Tensor;
      const matches = tf.sum(tf.cast(tf.equal(tf.argMax(predictions, -1), labels), "int32"));
      const summedLoss = tf.mul(
        crossEntropy(predictions, labels, data.schema.classes),
        indices.length,
      );
      return [matches, summedLoss];
    });
    const [hitCount, lossValue] = await Promise.all([hits.data(), loss.data()]);
    tf.dispose([hits, loss]);
    correct += hitCount[0];
    lossSum += lossValue[0];
  }
  return { accuracy: correct / data.size, loss: lossSum / data.size, samples: data.size };
}

/** Δ = w_local − w_global, coordinate by coordinate. */
export function computeDelta(local: Float32Array, global: Float32Array): Float32Array {
  if (local.length !== global.length) {
    throw new InvalidArgumentError(
      `local weights have ${local.length} values, global weights ${global.length}`,
    );
  }
  const delta = new Float32Array(local.length);
  for (let i = 0; i < local.length; i++) delta[i] = local[i] - global[i];
  return delta;
}

/** Keras's clipping keeps log() finite when a softmax output underflows to 0. */
const PROBABILITY_EPSILON = 1e-7;

function crossEntropy(probabilities: tf.Tensor, labels: tf.Tensor1D, classes: number): tf.Scalar {
  const clipped = tf.clipByValue(probabilities, PROBABILITY_EPSILON, 1 - PROBABILITY_EPSILON);
  const picked = tf.sum(tf.mul(tf.oneHot(labels, classes), tf.log(clipped)), -1);
  return tf.neg(tf.mean(picked));
}

function batchTensors(
  data: Dataset,
  indices: readonly number[],
): { xs: tf.Tensor; labels: tf.Tensor1D } {
  const width = featureSize(data.schema);
  const x = new Float32Array(indices.length * width);
  const y = new Int32Array(indices.length);
  indices.forEach((record, i) => {
    x.set(data.x.subarray(record * width, (record + 1) * width), i * width);
    y[i] = data.y[record];
  });
  return {
    xs: tf.tensor(x, [indices.length, ...data.schema.featureShape], "float32"),
    labels: tf.tensor1d(y, "int32"),
  };
}

function checkModelFitsData(model: tf.LayersModel, data: Dataset): void {
  const inputShape = model.inputs[0]?.shape.slice(1) ?? [];
  const outputShape = model.outputs[0]?.shape.slice(1) ?? [];
  const featureShape = data.schema.featureShape;
  if (
    inputShape.length !== featureShape.length ||
    inputShape.some((d, i) => d !== null && d !== featureShape[i])
  ) {
    throw new InvalidArgumentError(
      `model expects inputs of shape [${inputShape.join(", ")}], data has [${featureShape.join(", ")}]`,
    );
  }
  if (outputShape.length !== 1 || outputShape[0] !== data.schema.classes) {
    throw new InvalidArgumentError(
      `model outputs [${outputShape.join(", ")}], data has ${data.schema.classes} classes`,
    );
  }
}

function checkPositiveInteger(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) {
    throw new InvalidArgumentError(`${name} must be a positive integer, got ${value}`);
  }
}
