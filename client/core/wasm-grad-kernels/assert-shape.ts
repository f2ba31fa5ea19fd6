import { WasmGradKernelError } from "./errors.js";

/** Kernels index raw buffers by shape, so a mismatch must stop them before they read. */
export function assertShape(
  name: string,
  actual: readonly number[],
  expected: readonly number[],
): void {
  if (actual.length !== expected.length || actual.some((d, i) => d !== expected[i])) {
    throw new WasmGradKernelError(
      `${name} has shape [${actual.join(", ")}], expected [${expected.join(", ")}]`,
    );
  }
}
