import type { ModelPreset } from "../../protocol/model/presets.js";
import { backendSupportsTraining, missingTrainingKernels } from "../core/model/kernel-support.js";
import { registerWasmGradKernels } from "../core/wasm-grad-kernels/index.js";
import { BackendUnavailableError, type PreferredBackend, selectBackend } from "./backend.js";

export interface TrainingBackend {
  backend: string;
  reason: string;
}

/**
 * Selects the backend a device trains `preset` on. In "auto" a backend that lacks a
 * training kernel for the preset is skipped with the reason recorded, instead of failing
 * mid-round; an explicit choice that cannot train fails up front, naming the kernels.
 */
export async function prepareTrainingBackend(
  preset: ModelPreset,
  preferred: PreferredBackend = "auto",
): Promise<TrainingBackend> {
  const selected = await selectBackend({ preferred });
  if (selected.backend === "wasm") registerWasmGradKernels();
  if (backendSupportsTraining(preset)) return selected;
  const missing = missingTrainingKernels(preset);
  if (preferred !== "auto") {
    throw new BackendUnavailableError(
      `backend ${selected.backend} cannot train the ${preset} preset: missing kernels ${missing.join(", ")}`,
    );
  }
  const fallback = await selectBackend({ preferred: "cpu" });
  return {
    backend: fallback.backend,
    reason: `${selected.backend} lacks ${missing.join(", ")} for ${preset}; using cpu`,
  };
}
