import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { maxPoolGrad } from "./max-pool-grad.js";
import { initBackends, maxAbsDiff, randomValues, runKernelOn } from "./test-helpers.js";

interface Case {
  name: string;
  x: [number, number, number, number];
  filterSize: number | [number, number];
  strides: number | [number, number];
  pad: "same" | "valid" | number;
  /** Maps the random values in [-1, 1) before use. */
  values?: (v: number) => number;
}

async function compare(c: Case): Promise<void> {
  const xValues = randomValues(c.x, 11).map(c.values ?? ((v) => v));
  const info = tf.backend_util.computePool2DInfo(c.x, c.filterSize, c.strides, 1, c.pad);
  const dyShape = info.outShape;
  await tf.setBackend("cpu");
  const output = tf.tidy(() =>
    tf.maxPool(tf.tensor4d(xValues, c.x), c.filterSize, c.strides, c.pad).dataSync(),
  ) as Float32Array;
  const inputs = {
    dy: { values: randomValues(dyShape, 12), shape: dyShape },
    input: { values: xValues, shape: c.x },
    output: { values: output, shape: dyShape },
  };
  const attrs = { filterSize: c.filterSize, strides: c.strides, pad: c.pad };
  const cpu = await runKernelOn("cpu", "MaxPoolGrad", inputs, attrs);
  const wasm = await runKernelOn("wasm", "MaxPoolGrad", inputs, attrs);
  expect(wasm.shape).toEqual(c.x);
  expect(maxAbsDiff(wasm.values, cpu.values)).toBeLessThanOrEqual(1e-4);
  expect(wasm.leakedDataIds).toBe(0);
}

describe("MaxPoolGrad on wasm", () => {
  beforeAll(initBackends);

  it.each<Case>([
    {
      name: "2×2 stride 2 valid (the presets' pool)",
      x: [3, 8, 8, 4],
      filterSize: 2,
      strides: 2,
      pad: "valid",
    },
    {
      name: "2×2 stride 2 valid, odd sizes",
      x: [2, 7, 9, 3],
      filterSize: 2,
      strides: 2,
      pad: "valid",
    },
    {
      name: "2×2 stride 2 same, odd sizes",
      x: [2, 7, 9, 3],
      filterSize: 2,
      strides: 2,
      pad: "same",
    },
    {
      name: "3×3 stride 2 same (overlapping)",
      x: [2, 9, 9, 3],
      filterSize: 3,
      strides: 2,
      pad: "same",
    },
    { name: "3×3 stride 1 same", x: [1, 7, 7, 2], filterSize: 3, strides: 1, pad: "same" },
    {
      name: "[3, 2] windows, strides [1, 2], valid",
      x: [2, 8, 9, 2],
      filterSize: [3, 2],
      strides: [1, 2],
      pad: "valid",
    },
    { name: "numeric padding", x: [2, 6, 6, 2], filterSize: 3, strides: 2, pad: 1 },
    { name: "cnn preset pool 1", x: [4, 28, 28, 8], filterSize: 2, strides: 2, pad: "valid" },
  ])("matches the cpu backend: $name", compare);

  // tfjs-backend-wasm's own MaxPoolGrad fails these: it starts its running maximum at
  // FLT_MIN, the smallest positive float, instead of −∞.
  it("routes the gradient of all-negative windows to their maximum", () =>
    compare({
      name: "negative",
      x: [2, 6, 6, 3],
      filterSize: 2,
      strides: 2,
      pad: "valid",
      values: (v) => -Math.abs(v) - 0.01,
    }));

  it("sends a tied window's gradient to its first maximum, as the cpu backend does", () =>
    compare({
      name: "ties",
      x: [2, 6, 6, 3],
      filterSize: 2,
      strides: 2,
      pad: "valid",
      values: (v) => Math.max(0, Math.round(v)),
    }));

  it("sends a tied overlapping window's gradient to its first maximum", () =>
    compare({
      name: "ties, overlapping",
      x: [1, 7, 7, 2],
      filterSize: 3,
      strides: 1,
      pad: "same",
      values: (v) => Math.max(0, Math.round(v)),
    }));

  it("also runs on a backend without a wasm heap, through readSync", async () => {
    const shape: [number, number, number, number] = [2, 6, 6, 3];
    const x = randomValues(shape, 13);
    const dy = randomValues([2, 3, 3, 3], 14);
    const attrs = { filterSize: 2, strides: 2, pad: "valid" as const };
    const cpu = await runKernelOn(
      "cpu",
      "MaxPoolGrad",
      {
        dy: { values: dy, shape: [2, 3, 3, 3] },
        input: { values: x, shape },
        output: { values: new Float32Array(54), shape: [2, 3, 3, 3] },
      },
      attrs,
    );
    await tf.setBackend("cpu");
    const backend = tf.backend();
    const [xTensor, dyTensor] = [tf.tensor(x, shape), tf.tensor(dy, [2, 3, 3, 3])];
    const out = maxPoolGrad({ backend, x: xTensor, dy: dyTensor, ...attrs });
    const values = backend.readSync(out.dataId) as Float32Array;
    backend.disposeData(out.dataId);
    tf.dispose([xTensor, dyTensor]);
    expect(maxAbsDiff(values, cpu.values)).toBe(0);
  });
});
