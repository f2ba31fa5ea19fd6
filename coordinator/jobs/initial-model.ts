import type { DataSchema } from "../../protocol/data/dataset.js";
import { createModel, type ModelPreset } from "../../protocol/model/presets.js";
import { encodeModel, getFlatWeights, weightLayout } from "../../protocol/model/weights.js";

export interface ModelManifest {
  format: "fedproof-model-v1";
  preset: ModelPreset;
  schema: DataSchema;
  shapes: number[][];
  paramCount: number;
  /** model.bin is the weights in getWeights() order, little-endian float32. */
  encoding: "float32-le";
}

export interface InitialModelReturnType {
  bytes: Uint8Array;
  manifest: ModelManifest;
}

/** The round-0 model: the preset initialised from the job seed, so anyone can rebuild it. */
export function createInitialModel(
  preset: ModelPreset,
  schema: DataSchema,
  seed: number,
): InitialModelReturnType {
  const model = createModel(preset, schema, seed);
  try {
    const layout = weightLayout(model);
    return {
      bytes: encodeModel(getFlatWeights(model)),
      manifest: {
        format: "fedproof-model-v1",
        preset,
        schema,
        shapes: layout.shapes,
        paramCount: layout.size,
        encoding: "float32-le",
      },
    };
  } finally {
    model.dispose();
  }
}
