// Importing the wasm backend registers its own kernels; it must happen before ours replace
// some of them, or a later import would quietly put the (wrong) built-ins back.
import "@tensorflow/tfjs-backend-wasm";
import type { KernelConfig, KernelFunc } from "@tensorflow/tfjs";
import { getKernel, registerKernel, unregisterKernel } from "@tensorflow/tfjs";
import { makeBatchMatMulKernelFunc } from "./batch-mat-mul.js";
import { conv2dBackpropFilterKernelFunc } from "./conv2d-backprop-filter.js";
import { conv2dBackpropInputKernelFunc } from "./conv2d-backprop-input.js";
import { depthwiseConv2dBackpropFilterKernelFunc } from "./depthwise-conv2d-backprop-filter.js";
import { depthwiseConv2dBackpropInputKernelFunc } from "./depthwise-conv2d-backprop-input.js";
import { maxPoolGradKernelFunc } from "./max-pool-grad.js";
import { unsortedSegmentSumKernelFunc } from "./unsorted-segment-sum.js";

export {
  type Conv2dBackpropFilterParameters,
  conv2dBackpropFilter,
} from "./conv2d-backprop-filter.js";
export {
  type Conv2dBackpropInputParameters,
  conv2dBackpropInput,
} from "./conv2d-backprop-input.js";
export {
  type DepthwiseConv2dBackpropFilterParameters,
  depthwiseConv2dBackpropFilter,
} from "./depthwise-conv2d-backprop-filter.js";
export {
  type DepthwiseConv2dBackpropInputParameters,
  depthwiseConv2dBackpropInput,
} from "./depthwise-conv2d-backprop-input.js";
export { WasmGradKernelError } from "./errors.js";
export { type MaxPoolGradParameters, maxPoolGrad } from "./max-pool-grad.js";
export {
  type UnsortedSegmentSumParameters,
  unsortedSegmentSum,
} from "./unsorted-segment-sum.js";

const BACKEND = "wasm";

interface GradKernelSpec {
  kernelName: string;
  /**
   * Whether tfjs-backend-wasm 4.22 ships this kernel and we replace it. Kernels it lacks
   * are only ever added; kernels someone else added are never overwritten.
   */
  replacesBuiltin: boolean;
  /** Builds the kernel function, given the built-in one where there is one. */
  make: (builtin: KernelConfig | undefined) => KernelFunc | undefined;
}

const specs: readonly GradKernelSpec[] = [
  // Missing from tfjs-backend-wasm: the weight gradient of every conv layer.
  {
    kernelName: "Conv2DBackpropFilter",
    replacesBuiltin: false,
    make: () => conv2dBackpropFilterKernelFunc,
  },
  // Missing from tfjs-backend-wasm: the gradients of depthwise (and separable) conv
  // layers, and of Gather (embedding layers).
  {
    kernelName: "DepthwiseConv2dNativeBackpropFilter",
    replacesBuiltin: false,
    make: () => depthwiseConv2dBackpropFilterKernelFunc,
  },
  {
    kernelName: "DepthwiseConv2dNativeBackpropInput",
    replacesBuiltin: false,
    make: () => depthwiseConv2dBackpropInputKernelFunc,
  },
  {
    kernelName: "UnsortedSegmentSum",
    replacesBuiltin: false,
    make: () => unsortedSegmentSumKernelFunc,
  },
  // Present but wrong: the built-in seeds its running maximum with FLT_MIN, so windows
  // whose values are all negative (or zero) send their gradient to the wrong element.
  { kernelName: "MaxPoolGrad", replacesBuiltin: true, make: () => maxPoolGradKernelFunc },
  // Present but a scalar loop, several times slower than the XNNPACK convolution used here.
  {
    kernelName: "Conv2DBackpropInput",
    replacesBuiltin: true,
    make: () => conv2dBackpropInputKernelFunc,
  },
  // Present, but transposed products (all of a dense layer's backward pass) skip XNNPACK.
  {
    kernelName: "BatchMatMul",
    replacesBuiltin: true,
    make: (builtin) => builtin && makeBatchMatMulKernelFunc(builtin.kernelFunc, BACKEND),
  },
  {
    kernelName: "_FusedMatMul",
    replacesBuiltin: true,
    make: (builtin) => builtin && makeBatchMatMulKernelFunc(builtin.kernelFunc, BACKEND),
  },
];

/** Kernel functions registered here, to recognise our own registrations. */
const ours = new Set<KernelFunc>();
/** Built-ins we replaced, so `unregisterWasmGradKernels` can put them back. */
const displaced = new Map<string, KernelConfig>();

export interface RegisterWasmGradKernelsParameters {
  /**
   * Also replace the built-in kernels listed above as wrong or slow. Defaults to true;
   * with false, only kernels the backend lacks are added.
   */
  replaceBuiltins?: boolean;
}

export type RegisterWasmGradKernelsReturnType = string[];

/**
 * Registers gradient kernels for the "wasm" backend and returns the names this call
 * registered. Idempotent: kernels already registered here are left alone. Works before
 * or after the backend initialises; replacements keep the built-in's setup function, so
 * a built-in restored later still finds its wasm bindings.
 */
export function registerWasmGradKernels(
  parameters: RegisterWasmGradKernelsParameters = {},
): RegisterWasmGradKernelsReturnType {
  const replaceBuiltins = parameters.replaceBuiltins ?? true;
  const registered: string[] = [];
  for (const spec of specs) {
    const existing = getKernel(spec.kernelName, BACKEND);
    if (existing !== undefined && ours.has(existing.kernelFunc)) continue;
    if (existing !== undefined && !(spec.replacesBuiltin && replaceBuiltins)) continue;
    const kernelFunc = spec.make(existing);
    if (kernelFunc === undefined) continue;
    if (existing !== undefined) {
      displaced.set(spec.kernelName, existing);
      unregisterKernel(spec.kernelName, BACKEND);
    }
    registerKernel({
      kernelName: spec.kernelName,
      backendName: BACKEND,
      kernelFunc,
      setupFunc: existing?.setupFunc,
      disposeFunc: existing?.disposeFunc,
    });
    ours.add(kernelFunc);
    registered.push(spec.kernelName);
  }
  return registered;
}

/** Removes every kernel registered here, restores the built-ins, returns the names removed. */
export function unregisterWasmGradKernels(): string[] {
  const removed: string[] = [];
  for (const spec of specs) {
    const existing = getKernel(spec.kernelName, BACKEND);
    if (existing === undefined || !ours.has(existing.kernelFunc)) continue;
    unregisterKernel(spec.kernelName, BACKEND);
    ours.delete(existing.kernelFunc);
    removed.push(spec.kernelName);
    const builtin = displaced.get(spec.kernelName);
    if (builtin !== undefined) {
      registerKernel(builtin);
      displaced.delete(spec.kernelName);
    }
  }
  return removed;
}
