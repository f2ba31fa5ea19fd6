import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import type { ModelPreset } from "../../protocol/model/presets.js";
import { createModel } from "../../protocol/model/presets.js";
import { syntheticDataset } from "../core/data/synthetic.js";
import { trainLocal } from "../core/train.js";
import {
  BackendUnavailableError,
  backendSupportsTraining,
  missingTrainingKernels,
  selectBackend,
} from "./backend.js";

describe("selectBackend", () => {
  it("picks WebAssembly here, where tfjs-node is not installed", async () => {
    const selected = await selectBackend();
    expect(selected.backend).toBe("wasm");
    expect(selected.reason).toContain("tfjs-node");
    expect(tf.getBackend()).toBe("wasm");
    expect(tf.tidy(() => tf.add(tf.scalar(2), tf.scalar(3)).dataSync()[0])).toBe(5);
  });

  it("can be called again, and switches between explicit choices", async () => {
    expect((await selectBackend({ preferred: "auto" })).backend).toBe("wasm");
    expect((await selectBackend({ preferred: "cpu" })).backend).toBe("cpu");
    expect(tf.getBackend()).toBe("cpu");
    expect((await selectBackend({ preferred: "wasm", threads: 1 })).backend).toBe("wasm");
    expect(tf.getBackend()).toBe("wasm");
  });

  it("fails clearly when an explicit choice is unavailable", async () => {
    const error = await selectBackend({ preferred: "tensorflow" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendUnavailableError);
    expect(String(error)).toContain("npm install @tensorflow/tfjs-node");
  });
});

describe("backendSupportsTraining", () => {
  it("follows the kernel registry rather than a fixed list", async () => {
    await selectBackend({ preferred: "wasm" });
    for (const preset of ["logreg", "mlp", "cnn"] as const) {
      expect(backendSupportsTraining(preset, "cpu")).toBe(true);
      expect(backendSupportsTraining(preset, "wasm")).toBe(
        missingTrainingKernels(preset, "wasm").length === 0,
      );
    }
    expect(backendSupportsTraining("mlp")).toBe(true);
    const filterGradient = tf.getKernel("Conv2DBackpropFilter", "wasm") !== undefined;
    expect(missingTrainingKernels("cnn", "wasm").includes("Conv2DBackpropFilter")).toBe(
      !filterGradient,
    );
  });

  it("predicts correctly that a training step runs", async () => {
    const data = syntheticDataset({ samples: 8, seed: 1, features: 64 });
    const images = { ...data, schema: { ...data.schema, featureShape: [8, 8, 1] } };
    for (const backend of ["wasm", "cpu"] as const) {
      await selectBackend({ preferred: backend });
      for (const preset of ["logreg", "mlp", "cnn"] as ModelPreset[]) {
        const model = createModel(preset, images.schema, 1);
        const step = trainLocal({
          model,
          data: images,
          epochs: 1,
          batchSize: 8,
          learningRate: 0.01,
          seed: 1,
        });
        if (backendSupportsTraining(preset, backend)) await expect(step).resolves.toBeDefined();
        else await expect(step).rejects.toThrow();
        model.dispose();
      }
    }
  });
});
