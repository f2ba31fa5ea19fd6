import type { NamedTensorInfoMap, TensorInfo } from "@tensorflow/tfjs";
import { WasmGradKernelError } from "./errors.js";

/** Kernel inputs arrive as a loose map; a missing one is a caller bug worth naming. */
export function requireInput(
  inputs: NamedTensorInfoMap,
  name: string,
  kernelName: string,
): TensorInfo {
  const input = inputs[name];
  if (input === undefined) throw new WasmGradKernelError(`${kernelName}: input ${name} is missing`);
  return input;
}
