import type { KernelBackend, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from "@tensorflow/tfjs";
import { getKernel } from "@tensorflow/tfjs";
import { WasmGradKernelError } from "./errors.js";

export interface CallKernelParameters {
  backend: KernelBackend;
  backendName: string;
  kernelName: string;
  inputs: NamedTensorInfoMap;
  attrs?: NamedAttrMap;
}

export type CallKernelReturnType = TensorInfo;

/**
 * Runs another kernel of the same backend directly, as tfjs backends do internally.
 * Going through `tf` ops instead would cost an engine round trip (scope tracking,
 * tensor objects) per call, and per-op overhead is what dominates small-batch training.
 * The result is owned by the caller: release it with `disposeTensorInfos`.
 */
export function callKernel(parameters: CallKernelParameters): CallKernelReturnType {
  const { backend, backendName, kernelName, inputs, attrs = {} } = parameters;
  const config = getKernel(kernelName, backendName);
  if (config === undefined) {
    throw new WasmGradKernelError(`kernel ${kernelName} is not registered for ${backendName}`);
  }
  const out = config.kernelFunc({ inputs, attrs, backend });
  if (Array.isArray(out)) {
    throw new WasmGradKernelError(`kernel ${kernelName} returned several outputs, one expected`);
  }
  return out;
}

/** Releases intermediates made by `callKernel` (reshape outputs share data by refcount). */
export function disposeTensorInfos(backend: KernelBackend, infos: readonly TensorInfo[]): void {
  for (const info of infos) backend.disposeData(info.dataId);
}
