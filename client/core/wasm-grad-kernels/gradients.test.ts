import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackends, maxAbsDiff, randomValues } from "./test-helpers.js";

type Backend = "cpu" | "wasm";

/** Gradients of `loss` with respect to each input, computed on one backend. */
async function gradientsOn(
  backendName: Backend,
  loss: (...inputs: tf.Tensor[]) => tf.Scalar,
  inputs: { values: Float32Array; shape: number[] }[],
): Promise<Float32Array[]> {
  await tf.setBackend(backendName);
  const before = tf.memory().numTensors;
  const values = tf.tidy(() => {
    const tensors = inputs.map((input) => tf.tensor(input.values, input.shape));
    return tf
      .grads(loss)(tensors)
      .map((g) => g.dataSync() as Float32Array);
  });
  expect(tf.memory().numTensors).toBe(before);
  return values;
}

async function expectSameGradients(
  loss: (...inputs: tf.Tensor[]) => tf.Scalar,
  shapes: number[][],
): Promise<void> {
  const inputs = shapes.map((shape, i) => ({ values: randomValues(shape, 100 + i), shape }));
  const cpu = await gradientsOn("cpu", loss, inputs);
  const wasm = await gradientsOn("wasm", loss, inputs);
  for (let i = 0; i < cpu.length; i++) {
    expect(maxAbsDiff(wasm[i], cpu[i])).toBeLessThanOrEqual(1e-4);
  }
}

// A non-uniform upstream gradient, so that every element's gradient is distinct.
const weigh = (y: tf.Tensor) =>
  tf.sum(tf.mul(y, tf.tensor(randomValues(y.shape, 99), y.shape))) as tf.Scalar;

describe("tf.grad on wasm agrees with cpu", () => {
  beforeAll(initBackends);

  it.each([
    { strides: 1, pad: "same" as const },
    { strides: 2, pad: "valid" as const },
    { strides: 2, pad: "same" as const },
  ])("conv2d, strides $strides, $pad", ({ strides, pad }) =>
    expectSameGradients(
      (x, w) => weigh(tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, strides, pad)),
      [
        [3, 9, 8, 4],
        [3, 3, 4, 5],
      ],
    ),
  );

  it("fused conv2d with bias and relu (as conv layers use it)", () =>
    expectSameGradients(
      (x, w, b) =>
        weigh(
          tf.fused.conv2d({
            x: x as tf.Tensor4D,
            filter: w as tf.Tensor4D,
            strides: 1,
            pad: "same",
            bias: b,
            activation: "relu",
          }),
        ),
      [[2, 10, 10, 3], [5, 5, 3, 4], [4]],
    ));

  it.each([
    { filterSize: 2, strides: 2, pad: "valid" as const },
    { filterSize: 3, strides: 2, pad: "same" as const },
  ])("maxPool $filterSize×$filterSize, strides $strides, $pad", ({ filterSize, strides, pad }) =>
    expectSameGradients(
      (x) => weigh(tf.maxPool(x as tf.Tensor4D, filterSize, strides, pad)),
      [[2, 9, 9, 3]],
    ),
  );

  it("avgPool 2×2", () =>
    expectSameGradients((x) => weigh(tf.avgPool(x as tf.Tensor4D, 2, 2, "valid")), [[2, 8, 8, 3]]));

  it("depthwise conv2d", () =>
    expectSameGradients(
      (x, w) => weigh(tf.depthwiseConv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, "same")),
      [
        [2, 8, 8, 3],
        [3, 3, 3, 2],
      ],
    ));

  it("a whole conv → pool → conv → pool → dense → softmax cross-entropy stack", () =>
    expectSameGradients(
      (x, w1, b1, w2, b2, w3, b3) => {
        const relu1 = tf.relu(
          tf.add(tf.conv2d(x as tf.Tensor4D, w1 as tf.Tensor4D, 1, "same"), b1),
        );
        const pool1 = tf.maxPool(relu1 as tf.Tensor4D, 2, 2, "valid");
        const relu2 = tf.relu(tf.add(tf.conv2d(pool1, w2 as tf.Tensor4D, 1, "same"), b2));
        const pool2 = tf.maxPool(relu2 as tf.Tensor4D, 2, 2, "valid");
        const logits = tf.add(tf.matMul(tf.reshape(pool2, [4, 3 * 3 * 4]), w3), b3);
        const labels = tf.oneHot(tf.tensor1d([0, 3, 1, 2], "int32"), 5);
        return tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
      },
      [[4, 12, 12, 1], [5, 5, 1, 3], [3], [3, 3, 3, 4], [4], [36, 5], [5]],
    ));
});
