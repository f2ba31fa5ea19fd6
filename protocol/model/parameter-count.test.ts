import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { parameterCount } from "./parameter-count.js";
import { createModel, MODEL_PRESETS } from "./presets.js";
import { weightLayout } from "./weights.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

const schemas = [
  { featureShape: [16], min: 0, max: 1, classes: 4 },
  { featureShape: [28, 28, 1], min: 0, max: 1, classes: 10 },
  { featureShape: [9, 7, 3], min: 0, max: 1, classes: 3 },
  { featureShape: [4, 5, 2], min: 0, max: 1, classes: 2 },
];

describe("parameterCount", () => {
  for (const preset of MODEL_PRESETS) {
    for (const schema of schemas) {
      const image = schema.featureShape.length === 3;
      if (preset.startsWith("cnn") && !image) continue;
      it(`matches the built ${preset} on [${schema.featureShape.join(", ")}]`, () => {
        const model = createModel(preset, schema, 1);
        try {
          expect(parameterCount(preset, schema)).toBe(weightLayout(model).size);
        } finally {
          model.dispose();
        }
      });
    }
  }

  it("counts a model far too large to build", () => {
    // 2·10⁷ features · 200 hidden units: the spec that once exhausted the coordinator's memory.
    expect(parameterCount("mlp", { featureShape: [20_000_000], classes: 10 })).toBe(
      20_000_000 * 200 + 200 + 200 * 200 + 200 + 200 * 10 + 10,
    );
  });
});
