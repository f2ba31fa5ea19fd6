import type { ModelPreset } from "./presets.js";

/**
 * The number of trainable parameters `createModel(preset, schema)` would build, computed
 * from the architecture alone. Job validation needs it before anything is allocated: a
 * spec with 20M features would otherwise make TensorFlow.js allocate billions of weights
 * just to learn that the model is too large. Must track presets.ts layer for layer
 * (parameter-count.test.ts compares the two for every preset).
 */
export function parameterCount(
  preset: ModelPreset,
  schema: { featureShape: readonly number[]; classes: number },
): number {
  const { featureShape, classes } = schema;
  const dense = (inputs: number, units: number) => inputs * units + units;
  const features = featureShape.reduce((product, size) => product * size, 1);
  switch (preset) {
    case "logreg":
      return dense(features, classes);
    case "mlp":
      return dense(features, 200) + dense(200, 200) + dense(200, classes);
    case "cnn":
    case "cnn-fedavg": {
      // 5×5 "same" convolutions keep height and width; each 2×2 "valid" max-pool floors them.
      const [height = 0, width = 0, channels = 0] = featureShape;
      const [first, second] = preset === "cnn" ? [8, 16] : [32, 64];
      const conv = (inputs: number, filters: number) => 25 * inputs * filters + filters;
      const pooled = Math.floor(Math.floor(height / 2) / 2) * Math.floor(Math.floor(width / 2) / 2);
      const flat = pooled * second;
      const head = preset === "cnn" ? dense(flat, classes) : dense(flat, 512) + dense(512, classes);
      return conv(channels, first) + conv(first, second) + head;
    }
  }
}
