import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackends, maxAbsDiff, randomValues, runKernelOn } from "./test-helpers.js";

describe("UnsortedSegmentSum on wasm", () => {
  beforeAll(initBackends);

  it("matches the cpu backend, dropping out-of-range ids", async () => {
    const x = { values: randomValues([7, 3, 2], 21), shape: [7, 3, 2] };
    const segmentIds = { values: Int32Array.from([2, 0, 2, -1, 4, 0, 9]), shape: [7] };
    const attrs = { numSegments: 5 };
    const cpu = await runKernelOn("cpu", "UnsortedSegmentSum", { x, segmentIds }, attrs);
    const wasm = await runKernelOn("wasm", "UnsortedSegmentSum", { x, segmentIds }, attrs);
    expect(wasm.shape).toEqual([5, 3, 2]);
    expect(maxAbsDiff(wasm.values, cpu.values)).toBeLessThanOrEqual(1e-6);
    expect(wasm.leakedDataIds).toBe(0);
  });

  it("gives tf.grad of gather (an embedding lookup) the cpu backend's answer", async () => {
    const table = randomValues([6, 4], 22);
    const ids = Int32Array.from([1, 3, 1, 5, 0, 1]);
    const upstream = randomValues([6, 4], 23);
    const gradient = async (backendName: "cpu" | "wasm") => {
      await tf.setBackend(backendName);
      return tf.tidy(() => {
        const grad = tf.grad((t: tf.Tensor) =>
          tf.sum(tf.mul(tf.gather(t, tf.tensor1d(ids, "int32")), tf.tensor2d(upstream, [6, 4]))),
        );
        return grad(tf.tensor2d(table, [6, 4])).dataSync();
      });
    };
    expect(maxAbsDiff(await gradient("wasm"), await gradient("cpu"))).toBeLessThanOrEqual(1e-6);
  });
});
