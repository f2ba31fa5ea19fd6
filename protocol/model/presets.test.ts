import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { missingTrainingKernels } from "../../client/core/model/kernel-support.js";
import { InvalidArgumentError } from "../../common/errors.js";
import type { DataSchema } from "../data/dataset.js";
import { createModel, MODEL_PRESETS, parseModelPreset } from "./presets.js";
import { getFlatWeights, weightLayout } from "./weights.js";

const image: DataSchema = { featureShape: [28, 28, 1], min: 0, max: 1, classes: 10 };
const vector: DataSchema = { featureShape: [16], min: 0, max: 1, classes: 4 };

beforeAll(async () => {
  await tf.setBackend("cpu");
});

describe("the cnn-fedavg preset", () => {
  it("has McMahan et al. 2017's layers and their 1,663,370 parameters on 28×28×1, 10 classes", () => {
    const model = createModel("cnn-fedavg", image, 1);
    const layout = weightLayout(model);
    expect(layout.shapes).toEqual([
      [5, 5, 1, 32],
      [32],
      [5, 5, 32, 64],
      [64],
      [7 * 7 * 64, 512],
      [512],
      [512, 10],
      [10],
    ]);
    expect(layout.size).toBe(1_663_370);
    expect(model.layers.map((layer) => layer.getClassName())).toEqual([
      "Conv2D",
      "MaxPooling2D",
      "Conv2D",
      "MaxPooling2D",
      "Flatten",
      "Dense",
      "Dense",
    ]);
    const activations = model.layers
      .filter((layer) => layer.getClassName() !== "MaxPooling2D")
      .map((layer) => (layer.getConfig() as { activation?: string }).activation)
      .filter((activation) => activation !== undefined);
    expect(activations).toEqual(["relu", "relu", "relu", "softmax"]);
    model.dispose();
  });

  it("is seeded: same seed, same initial weights; another seed, others", () => {
    const small: DataSchema = { ...image, featureShape: [8, 8, 1] };
    const a = createModel("cnn-fedavg", small, 5);
    const b = createModel("cnn-fedavg", small, 5);
    const c = createModel("cnn-fedavg", small, 6);
    expect(getFlatWeights(b)).toEqual(getFlatWeights(a));
    expect(getFlatWeights(c)).not.toEqual(getFlatWeights(a));
    for (const model of [a, b, c]) model.dispose();
  });

  it("predicts a distribution over the classes", () => {
    const model = createModel("cnn-fedavg", { ...image, featureShape: [8, 8, 1] }, 2);
    const sums = tf.tidy(() =>
      tf.sum(model.predict(tf.randomUniform([3, 8, 8, 1], 0, 1, "float32", 7)) as tf.Tensor, -1),
    );
    for (const sum of sums.dataSync()) expect(sum).toBeCloseTo(1, 5);
    sums.dispose();
    model.dispose();
  });

  it("refuses vector features, naming the preset", () => {
    expect(() => createModel("cnn-fedavg", vector, 1)).toThrow(InvalidArgumentError);
    expect(() => createModel("cnn-fedavg", vector, 1)).toThrow(/cnn-fedavg/);
  });

  it("is a listed preset with the conv-net training kernels", () => {
    expect(MODEL_PRESETS).toContain("cnn-fedavg");
    expect(parseModelPreset("cnn-fedavg")).toBe("cnn-fedavg");
    expect(() => parseModelPreset("cnn-2017")).toThrow(/cnn-fedavg/);
    // The cpu backend has every kernel; the table lists the same ones as for the cnn preset.
    expect(missingTrainingKernels("cnn-fedavg", "cpu")).toEqual([]);
    expect(missingTrainingKernels("cnn-fedavg", "no-such-backend")).toEqual(
      missingTrainingKernels("cnn", "no-such-backend"),
    );
    expect(missingTrainingKernels("cnn-fedavg", "no-such-backend")).toContain(
      "Conv2DBackpropFilter",
    );
  });
});
