import * as tf from "@tensorflow/tfjs";
import { InvalidArgumentError } from "../../common/errors.js";
import type { DataSchema } from "../data/dataset.js";
import { validateSchema } from "../data/dataset.js";
import { deriveSeed } from "../random.js";

export type ModelPreset = "logreg" | "mlp" | "cnn" | "cnn-fedavg";

export const MODEL_PRESETS: readonly ModelPreset[] = ["logreg", "mlp", "cnn", "cnn-fedavg"];

/** Narrows a string (CLI flag, job spec) to a preset, or throws naming the choices. */
export function parseModelPreset(name: string): ModelPreset {
  const preset = MODEL_PRESETS.find((candidate) => candidate === name);
  if (!preset) {
    throw new InvalidArgumentError(
      `unknown model preset "${name}": expected one of ${MODEL_PRESETS.join(", ")}`,
    );
  }
  return preset;
}

/**
 * Builds one of the preset models, softmax outputs over `schema.classes`:
 * - logreg: flatten → dense(classes)
 * - mlp: McMahan et al.'s "2NN": flatten → dense 200 relu → dense 200 relu → dense(classes)
 * - cnn: conv 8@5×5 relu → maxpool 2 → conv 16@5×5 relu → maxpool 2 → flatten → dense(classes),
 *   "same" padding so that small images (≥ 4×4) still fit; needs featureShape [h, w, c].
 * - cnn-fedavg: McMahan et al. 2017's "CNN": conv 32@5×5 relu → maxpool 2 → conv 64@5×5 relu
 *   → maxpool 2 → flatten → dense 512 relu → dense(classes). "same" padding: the paper's
 *   1,663,370 parameters for 28×28×1 inputs and 10 classes only add up with it.
 *
 * Initial weights are drawn from seeded initializers (one derived seed per layer), so every
 * party that knows the job's seed builds the same initial model and the same initial hash.
 */
export function createModel(preset: ModelPreset, schema: DataSchema, seed: number): tf.LayersModel {
  validateSchema(schema);
  const inputShape = schema.featureShape;
  let layer = 0;
  const init = (kind: "glorot" | "he") => {
    const args = { seed: deriveSeed(seed, layer++) };
    return kind === "glorot"
      ? tf.initializers.glorotUniform(args)
      : tf.initializers.heUniform(args);
  };
  // Flatten wants rank ≥ 2 per record, so vector features go straight into the first dense
  // layer, which then carries the input shape.
  const flatten = inputShape.length > 1;
  const denseInput = (first: boolean) => (first && !flatten ? { inputShape } : {});
  const output = (first = false) =>
    tf.layers.dense({
      ...denseInput(first),
      units: schema.classes,
      activation: "softmax",
      kernelInitializer: init("glorot"),
      biasInitializer: "zeros",
    });

  const model = tf.sequential({ name: `fedproof_${preset}` });
  switch (preset) {
    case "logreg":
      if (flatten) model.add(tf.layers.flatten({ inputShape }));
      model.add(output(true));
      break;
    case "mlp":
      if (flatten) model.add(tf.layers.flatten({ inputShape }));
      for (let i = 0; i < 2; i++) {
        model.add(
          tf.layers.dense({
            ...denseInput(i === 0),
            units: 200,
            activation: "relu",
            kernelInitializer: init("he"),
            biasInitializer: "zeros",
          }),
        );
      }
      model.add(output());
      break;
    case "cnn":
    case "cnn-fedavg": {
      const [height, width] = inputShape;
      if (inputShape.length !== 3 || height < 4 || width < 4) {
        throw new InvalidArgumentError(
          `the ${preset} preset needs image features [height ≥ 4, width ≥ 4, channels], got [${inputShape.join(", ")}]`,
          { details: "use the logreg or mlp preset for vector features" },
        );
      }
      const conv = (filters: number, first: boolean) =>
        tf.layers.conv2d({
          ...(first ? { inputShape } : {}),
          filters,
          kernelSize: 5,
          padding: "same",
          activation: "relu",
          kernelInitializer: init("he"),
          biasInitializer: "zeros",
        });
      const [firstFilters, secondFilters] = preset === "cnn" ? [8, 16] : [32, 64];
      model.add(conv(firstFilters, true));
      model.add(tf.layers.maxPooling2d({ poolSize: 2 }));
      model.add(conv(secondFilters, false));
      model.add(tf.layers.maxPooling2d({ poolSize: 2 }));
      model.add(tf.layers.flatten());
      if (preset === "cnn-fedavg") {
        model.add(
          tf.layers.dense({
            units: 512,
            activation: "relu",
            kernelInitializer: init("he"),
            biasInitializer: "zeros",
          }),
        );
      }
      model.add(output());
      break;
    }
    default:
      throw new InvalidArgumentError(`unknown model preset "${String(preset)}"`);
  }
  return model;
}
