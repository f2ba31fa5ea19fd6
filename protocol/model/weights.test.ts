import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../common/errors.js";
import type { DataSchema } from "../data/dataset.js";
import { createModel, parseModelPreset } from "./presets.js";
import {
  decodeModel,
  encodeModel,
  getFlatWeights,
  setFlatWeights,
  weightLayout,
} from "./weights.js";

const vector: DataSchema = { featureShape: [16], min: 0, max: 1, classes: 4 };
const image: DataSchema = { featureShape: [28, 28, 1], min: 0, max: 1, classes: 10 };

beforeAll(async () => {
  await tf.setBackend("cpu");
});

describe("createModel", () => {
  it("builds the presets with the documented sizes", () => {
    expect(weightLayout(createModel("logreg", vector, 1)).size).toBe(16 * 4 + 4);
    expect(weightLayout(createModel("mlp", image, 1)).size).toBe(
      784 * 200 + 200 + 200 * 200 + 200 + 200 * 10 + 10,
    );
    const cnn = weightLayout(createModel("cnn", image, 1));
    expect(cnn.shapes).toEqual([[5, 5, 1, 8], [8], [5, 5, 8, 16], [16], [7 * 7 * 16, 10], [10]]);
  });

  it("draws the same initial weights from the same seed only", () => {
    const a = getFlatWeights(createModel("mlp", vector, 11));
    expect(getFlatWeights(createModel("mlp", vector, 11))).toEqual(a);
    expect(getFlatWeights(createModel("mlp", vector, 12))).not.toEqual(a);
  });

  it("refuses the cnn for vector features and unknown presets", () => {
    expect(() => createModel("cnn", vector, 1)).toThrow(InvalidArgumentError);
    expect(() => parseModelPreset("resnet")).toThrow(/logreg, mlp, cnn/);
    expect(parseModelPreset("cnn")).toBe("cnn");
  });
});

describe("flat weights", () => {
  it("round-trips through setFlatWeights and getFlatWeights", () => {
    const model = createModel("cnn", { ...image, featureShape: [8, 8, 1] }, 3);
    const layout = weightLayout(model);
    const flat = Float32Array.from({ length: layout.size }, (_, i) => Math.sin(i));
    const before = tf.memory().numTensors;
    setFlatWeights(model, flat);
    expect(tf.memory().numTensors).toBe(before);
    expect(getFlatWeights(model)).toEqual(flat);
    expect(() => setFlatWeights(model, flat.subarray(1))).toThrow(InvalidArgumentError);
  });

  it("follows getWeights() order", () => {
    const model = createModel("logreg", vector, 4);
    const flat = getFlatWeights(model);
    const [kernel, bias] = model.getWeights();
    expect(flat.subarray(0, 64)).toEqual(kernel.dataSync());
    expect(flat.subarray(64)).toEqual(bias.dataSync());
  });

  it("encodes as little-endian float32 and checks the size on decode", () => {
    const flat = Float32Array.from([1, -2.5, 3e-8]);
    const bytes = encodeModel(flat);
    expect(Array.from(bytes.subarray(0, 4))).toEqual([0, 0, 0x80, 0x3f]);
    expect(decodeModel(bytes, 3)).toEqual(flat);
    const padded = new Uint8Array(bytes.length + 1);
    padded.set(bytes, 1);
    expect(decodeModel(padded.subarray(1))).toEqual(flat);
    expect(() => decodeModel(bytes, 4)).toThrow(/expected 4/);
    expect(() => decodeModel(bytes.subarray(1))).toThrow(InvalidArgumentError);
  });
});
