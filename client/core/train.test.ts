import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../common/errors.js";
import { createModel } from "../../protocol/model/presets.js";
import { getFlatWeights } from "../../protocol/model/weights.js";
import { syntheticDataset } from "./data/synthetic.js";
import { computeDelta, evaluate, trainLocal } from "./train.js";
import { l2Norm } from "./update/clip.js";

const train = syntheticDataset({ samples: 400, seed: 1 });
const test = syntheticDataset({ samples: 400, seed: 2 });

beforeAll(async () => {
  await tf.setBackend("cpu");
});

describe("trainLocal", () => {
  it("learns the synthetic task well above chance in a few epochs", async () => {
    const model = createModel("logreg", train.schema, 7);
    const before = await evaluate(model, test);
    expect(before.accuracy).toBeLessThan(0.4);
    const result = await trainLocal({
      model,
      data: train,
      epochs: 5,
      batchSize: 16,
      learningRate: 0.1,
      seed: 1,
    });
    const after = await evaluate(model, test);
    expect(after.accuracy).toBeGreaterThan(0.7);
    expect(after.loss).toBeLessThan(before.loss);
    expect(result.samples).toBe(400);
    expect(result.loss).toBeGreaterThan(0);
    expect(result.samplesPerSecond).toBeGreaterThan(0);
  });

  it("leaks no tensors, with or without the proximal term", async () => {
    const model = createModel("mlp", train.schema, 8);
    await evaluate(model, test);
    const before = tf.memory().numTensors;
    await trainLocal({ model, data: train, epochs: 1, batchSize: 32, learningRate: 0.05, seed: 2 });
    await trainLocal({
      model,
      data: train,
      epochs: 1,
      batchSize: 32,
      learningRate: 0.05,
      seed: 2,
      proximalMu: 0.1,
    });
    await evaluate(model, test);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("is replayable from the seed", async () => {
    const run = async (seed: number) => {
      const model = createModel("logreg", train.schema, 9);
      await trainLocal({ model, data: train, epochs: 1, batchSize: 10, learningRate: 0.1, seed });
      return getFlatWeights(model);
    };
    const a = await run(1);
    expect(await run(1)).toEqual(a);
    expect(await run(2)).not.toEqual(a);
  });

  it("keeps the model closer to its start with a proximal term", async () => {
    const drift = async (proximalMu: number) => {
      const model = createModel("logreg", train.schema, 10);
      const start = getFlatWeights(model);
      await trainLocal({
        model,
        data: train,
        epochs: 2,
        batchSize: 16,
        learningRate: 0.1,
        seed: 3,
        proximalMu,
      });
      return l2Norm(computeDelta(getFlatWeights(model), start));
    };
    expect(await drift(5)).toBeLessThan(0.8 * (await drift(0)));
  });

  it("rejects bad parameters and mismatched data", async () => {
    const model = createModel("logreg", train.schema, 1);
    const base = { model, data: train, epochs: 1, batchSize: 8, learningRate: 0.1, seed: 1 };
    await expect(trainLocal({ ...base, epochs: 0 })).rejects.toThrow(InvalidArgumentError);
    await expect(trainLocal({ ...base, learningRate: -1 })).rejects.toThrow(InvalidArgumentError);
    const wide = syntheticDataset({ samples: 10, seed: 1, features: 8 });
    await expect(trainLocal({ ...base, data: wide })).rejects.toThrow(/inputs of shape \[16\]/);
  });
});

describe("computeDelta", () => {
  it("subtracts coordinate-wise and checks lengths", () => {
    expect(
      Array.from(computeDelta(Float32Array.from([1, 2.5]), Float32Array.from([0.5, 3]))),
    ).toEqual([0.5, -0.5]);
    expect(() => computeDelta(new Float32Array(2), new Float32Array(3))).toThrow(
      InvalidArgumentError,
    );
  });
});
