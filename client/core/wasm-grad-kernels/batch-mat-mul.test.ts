import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackends, maxAbsDiff, randomValues, runKernelOn } from "./test-helpers.js";

interface Case {
  name: string;
  a: number[];
  b: number[];
  transposeA: boolean;
  transposeB: boolean;
}

const cases: Case[] = [
  {
    name: "aᵀ·b (a dense layer's weight gradient)",
    a: [32, 50],
    b: [32, 10],
    transposeA: true,
    transposeB: false,
  },
  {
    name: "a·bᵀ (a dense layer's input gradient)",
    a: [32, 10],
    b: [50, 10],
    transposeA: false,
    transposeB: true,
  },
  { name: "aᵀ·bᵀ", a: [7, 5], b: [3, 7], transposeA: true, transposeB: true },
  { name: "a·b, untouched", a: [6, 7], b: [7, 4], transposeA: false, transposeB: false },
  { name: "rank 3, one batch", a: [1, 9, 6], b: [1, 9, 4], transposeA: true, transposeB: false },
  {
    name: "rank 3, several batches (left to the built-in)",
    a: [3, 5, 6],
    b: [3, 4, 6],
    transposeA: false,
    transposeB: true,
  },
];

describe("BatchMatMul and _FusedMatMul on wasm", () => {
  beforeAll(initBackends);

  it.each(cases)("BatchMatMul matches the cpu backend: $name", async (c) => {
    const inputs = {
      a: { values: randomValues(c.a, 41), shape: c.a },
      b: { values: randomValues(c.b, 42), shape: c.b },
    };
    const attrs = { transposeA: c.transposeA, transposeB: c.transposeB };
    const cpu = await runKernelOn("cpu", "BatchMatMul", inputs, attrs);
    const wasm = await runKernelOn("wasm", "BatchMatMul", inputs, attrs);
    expect(wasm.shape).toEqual(cpu.shape);
    expect(maxAbsDiff(wasm.values, cpu.values)).toBeLessThanOrEqual(1e-4);
    expect(wasm.leakedDataIds).toBe(0);
  });

  it("_FusedMatMul with transposes, bias and relu matches the cpu backend", async () => {
    const inputs = {
      // The kernel takes rank 3, as tf.fused.matMul hands it.
      a: { values: randomValues([12, 8], 43), shape: [1, 12, 8] },
      b: { values: randomValues([5, 12], 44), shape: [1, 5, 12] },
      bias: { values: randomValues([5], 45), shape: [5] },
    };
    const attrs = { transposeA: true, transposeB: true, activation: "relu" };
    const cpu = await runKernelOn("cpu", "_FusedMatMul", inputs, attrs);
    const wasm = await runKernelOn("wasm", "_FusedMatMul", inputs, attrs);
    expect(wasm.shape).toEqual([1, 8, 5]);
    expect(maxAbsDiff(wasm.values, cpu.values)).toBeLessThanOrEqual(1e-4);
    expect(wasm.leakedDataIds).toBe(0);
  });

  it("gives a dense layer's gradients the cpu backend's values", async () => {
    const x = randomValues([16, 30], 46);
    const w = randomValues([30, 7], 47);
    const gradients = async (backendName: "cpu" | "wasm") => {
      await tf.setBackend(backendName);
      return tf.tidy(() => {
        const grads = tf.grads((xs: tf.Tensor, ws: tf.Tensor) =>
          tf.sum(tf.square(tf.relu(tf.matMul(xs, ws)))),
        )([tf.tensor2d(x, [16, 30]), tf.tensor2d(w, [30, 7])]);
        return grads.map((g) => g.dataSync() as Float32Array);
      });
    };
    const [cpuX, cpuW] = await gradients("cpu");
    const [wasmX, wasmW] = await gradients("wasm");
    expect(maxAbsDiff(wasmX, cpuX)).toBeLessThanOrEqual(1e-4);
    expect(maxAbsDiff(wasmW, cpuW)).toBeLessThanOrEqual(1e-4);
  });
});
