import * as tf from "@tensorflow/tfjs";
import { FedproofError } from "../../common/errors.js";
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

/**
 * The coordinator process has no initialised tfjs backend to build initial models with.
 * The operator must act (the researcher's request was fine), hence FAILED_PRECONDITION.
 */
export class ModelBackendUnavailableError extends FedproofError {
  override name = "ModelBackendUnavailableError";
  constructor(shortMessage: string, parameters: { details?: string; cause?: unknown } = {}) {
    super(shortMessage, { ...parameters, code: "FAILED_PRECONDITION" });
  }
}

/**
 * Makes sure tfjs has a backend ready before the coordinator serves: some backends (wasm)
 * initialise asynchronously, and building a model synchronously on one that has not would
 * fail every CreateJob. Keeps the active backend (`fedproof coordinator` selects one the way
 * devices do); otherwise initialises the highest-priority registered one.
 */
export async function prepareModelBackend(): Promise<string> {
  let cause: unknown;
  if (!tf.getBackend()) {
    try {
      await tf.ready();
      // When a failed synchronous use started the initialisation, the first call only waits
      // for it; the second activates the best initialised backend.
      if (!tf.getBackend()) await tf.ready();
    } catch (error) {
      cause = error;
    }
  }
  const backend = tf.getBackend();
  if (!backend) {
    throw new ModelBackendUnavailableError(
      "no tfjs backend could be initialised to build initial models",
      { cause },
    );
  }
  return backend;
}

/** The round-0 model: the preset initialised from the job seed, so anyone can rebuild it. */
export function createInitialModel(
  preset: ModelPreset,
  schema: DataSchema,
  seed: number,
): InitialModelReturnType {
  let model: tf.LayersModel;
  try {
    model = createModel(preset, schema, seed);
  } catch (error) {
    // With no active backend, tfjs fails on the first tensor; say what is missing instead.
    if (tf.getBackend() || error instanceof FedproofError) throw error;
    throw new ModelBackendUnavailableError(
      "this coordinator has no initialised tfjs backend to build the initial model with",
      {
        details:
          "the operator must initialise one before serving (await prepareModelBackend()), as `fedproof coordinator` does",
        cause: error,
      },
    );
  }
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
