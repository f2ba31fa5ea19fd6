import * as tf from "@tensorflow/tfjs";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import { registerWasmGradKernels } from "./index.js";

/**
 * Test support: both backends in one process. The wasm binaries sit next to the
 * package's entry point; import.meta.resolve finds them without Node's path module.
 */
export async function initBackends(): Promise<void> {
  setWasmPaths(new URL("./", import.meta.resolve("@tensorflow/tfjs-backend-wasm")).pathname);
  registerWasmGradKernels();
  if (!(await tf.setBackend("wasm"))) throw new Error("wasm backend failed to initialise");
  await tf.setBackend("cpu");
}

/** Runs `compute` on one backend with fresh tensors and returns its output values. */
export async function onBackend(
  backendName: "cpu" | "wasm",
  compute: () => tf.Tensor,
): Promise<Float32Array> {
  await tf.setBackend(backendName);
  return tf.tidy(compute).dataSync() as Float32Array;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

/** Deterministic values in [-1, 1), independent of any backend's random ops. */
export function randomValues(shape: readonly number[], seed: number): Float32Array {
  const size = shape.reduce((a, d) => a * d, 1);
  const out = new Float32Array(size);
  let state = seed >>> 0;
  for (let i = 0; i < size; i++) {
    // mulberry32
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

/** Inserts d−1 zero taps between filter taps, so a dilated conv equals an undilated one. */
export function dilateFilter(
  values: Float32Array,
  shape: [number, number, number, number],
  dilations: [number, number],
): { values: Float32Array; shape: [number, number, number, number] } {
  const [kh, kw, ci, co] = shape;
  const [dh, dw] = dilations;
  const outShape: [number, number, number, number] = [(kh - 1) * dh + 1, (kw - 1) * dw + 1, ci, co];
  const out = new Float32Array(outShape.reduce((a, d) => a * d, 1));
  const inner = ci * co;
  for (let h = 0; h < kh; h++) {
    for (let w = 0; w < kw; w++) {
      const from = (h * kw + w) * inner;
      const to = (h * dh * outShape[1] + w * dw) * inner;
      out.set(values.subarray(from, from + inner), to);
    }
  }
  return { values: out, shape: outShape };
}

/** Keeps every d-th tap of a dilated filter: the inverse of `dilateFilter`. */
export function undilateFilter(
  values: ArrayLike<number>,
  shape: [number, number, number, number],
  dilations: [number, number],
): Float32Array {
  const [kh, kw, ci, co] = shape;
  const [dh, dw] = dilations;
  const dilatedWidth = (kw - 1) * dw + 1;
  const inner = ci * co;
  const out = new Float32Array(kh * kw * inner);
  for (let h = 0; h < kh; h++) {
    for (let w = 0; w < kw; w++) {
      const from = (h * dh * dilatedWidth + w * dw) * inner;
      for (let i = 0; i < inner; i++) out[(h * kw + w) * inner + i] = values[from + i];
    }
  }
  return out;
}

export interface KernelInput {
  values: Float32Array | Int32Array;
  shape: number[];
}

export interface KernelRun {
  values: Float32Array;
  shape: number[];
  /** Backend data buffers left behind by the kernel beyond its output: must be 0. */
  leakedDataIds: number;
}

/** Runs one kernel through the engine on the named backend, as tfjs ops would. */
export async function runKernelOn(
  backendName: "cpu" | "wasm",
  kernelName: string,
  inputs: Record<string, KernelInput>,
  attrs: tf.NamedAttrMap,
): Promise<KernelRun> {
  await tf.setBackend(backendName);
  const tensors: Record<string, tf.Tensor> = {};
  for (const [name, input] of Object.entries(inputs)) {
    tensors[name] = tf.tensor(input.values, input.shape);
  }
  const before = tf.backend().numDataIds();
  const out = tf.engine().runKernel(kernelName, tensors, attrs) as tf.Tensor;
  const leakedDataIds = tf.backend().numDataIds() - before - 1;
  const run = { values: out.dataSync() as Float32Array, shape: out.shape, leakedDataIds };
  tf.dispose([out, ...Object.values(tensors)]);
  return run;
}
