import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackends, randomValues } from "./test-helpers.js";

/** conv relu → pool → conv relu → pool → flatten → dense layers, on size×size×1 inputs. */
function convNet(filters: [number, number], hidden: number[], size = 28): tf.Sequential {
  const conv = (count: number, first: boolean) =>
    tf.layers.conv2d({
      ...(first ? { inputShape: [size, size, 1] } : {}),
      filters: count,
      kernelSize: 5,
      padding: "same",
      activation: "relu",
      kernelInitializer: tf.initializers.heUniform({ seed: count }),
    });
  return tf.sequential({
    layers: [
      conv(filters[0], true),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      conv(filters[1], false),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
      ...hidden.map((units) =>
        tf.layers.dense({
          units,
          activation: "relu",
          kernelInitializer: tf.initializers.heUniform({ seed: units }),
        }),
      ),
      tf.layers.dense({
        units: 10,
        activation: "softmax",
        kernelInitializer: tf.initializers.glorotUniform({ seed: 10 }),
      }),
    ],
  });
}

/**
 * A learnable toy task: faint noise plus a bright square whose position is the class.
 */
function patchImages(batch: number, size: number): { xs: tf.Tensor4D; labels: tf.Tensor2D } {
  const noise = randomValues([batch, size, size, 1], 7);
  const pixels = noise.map((v) => 0.1 * Math.abs(v));
  const classes = Array.from({ length: batch }, (_, i) => i % 10);
  classes.forEach((label, n) => {
    const patch = Math.floor(size / 4);
    const top = patch * Math.floor(label / 4);
    const left = patch * (label % 4);
    for (let h = top; h < top + patch; h++) {
      for (let w = left; w < left + patch; w++) pixels[(n * size + h) * size + w] = 1;
    }
  });
  return {
    xs: tf.tensor4d(pixels, [batch, size, size, 1]),
    labels: tf.oneHot(tf.tensor1d(classes, "int32"), 10) as tf.Tensor2D,
  };
}

function trainSteps(model: tf.Sequential, batch: number, steps: number, size = 28) {
  const { xs, labels } = patchImages(batch, size);
  const optimizer = tf.train.sgd(0.1);
  const losses: number[] = [];
  const tensorsAfterStep: number[] = [];
  for (let step = 0; step < steps; step++) {
    const loss = optimizer.minimize(
      () => tf.losses.softmaxCrossEntropy(labels, model.apply(xs) as tf.Tensor) as tf.Scalar,
      true,
    );
    losses.push(loss?.dataSync()[0] ?? Number.NaN);
    loss?.dispose();
    tensorsAfterStep.push(tf.memory().numTensors);
  }
  tf.dispose([xs, labels]);
  optimizer.dispose();
  return { losses, tensorsAfterStep };
}

describe("training conv nets on wasm", () => {
  beforeAll(initBackends);

  it("learns with the small CNN preset's architecture, without leaking tensors", async () => {
    await tf.setBackend("wasm");
    const model = convNet([8, 16], []);
    const { losses, tensorsAfterStep } = trainSteps(model, 32, 40);
    model.dispose();
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[losses.length - 1]).toBeLessThan(0.75 * losses[0]);
    // The first step creates the optimizer's state; after that every step frees what it makes.
    expect(new Set(tensorsAfterStep.slice(1)).size).toBe(1);
  });

  // Small images: the cpu backend's conv gradients are slow.
  it("follows the cpu backend's loss curve step for step", async () => {
    const curve = async (backendName: "cpu" | "wasm") => {
      await tf.setBackend(backendName);
      const model = convNet([8, 16], [], 12);
      const { losses } = trainSteps(model, 8, 6, 12);
      model.dispose();
      return losses;
    };
    const cpu = await curve("cpu");
    const wasm = await curve("wasm");
    expect(cpu[cpu.length - 1]).toBeLessThan(cpu[0]);
    for (let i = 0; i < cpu.length; i++) expect(Math.abs(wasm[i] - cpu[i])).toBeLessThan(1e-4);
  });

  it("takes a step with McMahan et al.'s CNN (conv 32, conv 64, dense 512)", async () => {
    await tf.setBackend("wasm");
    const model = convNet([32, 64], [512]);
    const before = model.getWeights().map((w) => w.dataSync().slice());
    const { losses } = trainSteps(model, 4, 2);
    const after = model.getWeights().map((w) => w.dataSync());
    model.dispose();
    expect(losses.every(Number.isFinite)).toBe(true);
    // Every weight tensor (both conv kernels included) moved.
    expect(after.every((w, i) => w.some((v, j) => v !== before[i][j]))).toBe(true);
  });
});
