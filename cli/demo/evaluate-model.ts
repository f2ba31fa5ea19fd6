import type * as tf from "@tensorflow/tfjs";
import { evaluate } from "../../client/core/train.js";
import type { Dataset } from "../../protocol/data/dataset.js";
import { createModel, type ModelPreset } from "../../protocol/model/presets.js";
import { decodeModel, setFlatWeights } from "../../protocol/model/weights.js";

/** Measures global models on a central test set, reusing one tfjs model for every round. */
export class ModelEvaluator {
  private readonly model: tf.LayersModel;

  constructor(
    preset: ModelPreset,
    private readonly testSet: Dataset,
  ) {
    this.model = createModel(preset, testSet.schema, 0);
  }

  async evaluate(modelBytes: Uint8Array): Promise<{ accuracy: number; loss: number }> {
    setFlatWeights(this.model, decodeModel(modelBytes));
    const { accuracy, loss } = await evaluate(this.model, this.testSet);
    return { accuracy, loss };
  }

  dispose(): void {
    this.model.dispose();
  }
}
