import * as tf from "@tensorflow/tfjs";
import type { ModelPreset } from "../../../protocol/model/presets.js";

/**
 * Kernels whose absence stops a preset from training (forward and backward pass). Only the
 * ones a backend may plausibly lack are listed; elementwise maths is everywhere.
 */
const CONV_NET_KERNELS = [
  "BatchMatMul",
  "Softmax",
  "Log",
  "Relu",
  "Step",
  "Conv2D",
  "Conv2DBackpropFilter",
  "Conv2DBackpropInput",
  "MaxPool",
  "MaxPoolGrad",
] as const;

const TRAINING_KERNELS: Record<ModelPreset, readonly string[]> = {
  logreg: ["BatchMatMul", "Softmax", "Log"],
  mlp: ["BatchMatMul", "Softmax", "Log", "Relu", "Step"],
  cnn: CONV_NET_KERNELS,
  "cnn-fedavg": CONV_NET_KERNELS,
};

/** Kernels `preset` needs for training that `backend` has not registered. */
export function missingTrainingKernels(preset: ModelPreset, backend = tf.getBackend()): string[] {
  return TRAINING_KERNELS[preset].filter((kernel) => tf.getKernel(kernel, backend) === undefined);
}

/**
 * Whether `backend` (default: the active one) can train `preset`. Asked of the kernel
 * registry rather than hard-coded per backend, so that a backend gaining a kernel (e.g.
 * WebAssembly's missing Conv2DBackpropFilter) is used as soon as it registers it.
 */
export function backendSupportsTraining(preset: ModelPreset, backend = tf.getBackend()): boolean {
  return missingTrainingKernels(preset, backend).length === 0;
}
