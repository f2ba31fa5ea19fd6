import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { conv2dBackpropFilter } from "./conv2d-backprop-filter.js";
import {
  dilateFilter,
  initBackends,
  maxAbsDiff,
  randomValues,
  runKernelOn,
  undilateFilter,
} from "./test-helpers.js";

type Pad = "same" | "valid" | number | [[0, 0], [number, number], [number, number], [0, 0]];

interface Case {
  name: string;
  x: [number, number, number, number];
  filter: [number, number, number, number];
  strides: number | [number, number];
  pad: Pad;
}

function outputShape(c: Case, dilations: [number, number] = [1, 1]): number[] {
  return tf.backend_util.computeConv2DInfo(c.x, c.filter, c.strides, dilations, c.pad).outShape;
}

const cases: Case[] = [
  { name: "same, stride 1", x: [2, 9, 9, 3], filter: [3, 3, 3, 4], strides: 1, pad: "same" },
  { name: "valid, stride 2", x: [2, 9, 9, 3], filter: [3, 3, 3, 4], strides: 2, pad: "valid" },
  {
    name: "same, stride 2, one channel",
    x: [3, 10, 11, 1],
    filter: [5, 5, 1, 4],
    strides: 2,
    pad: "same",
  },
  {
    name: "explicit padding, strides [2, 3]",
    x: [3, 10, 11, 2],
    filter: [4, 2, 2, 3],
    strides: [2, 3],
    pad: [
      [0, 0],
      [1, 2],
      [0, 1],
      [0, 0],
    ],
  },
  { name: "numeric padding", x: [2, 8, 8, 2], filter: [3, 3, 2, 2], strides: 1, pad: 1 },
  {
    name: "valid with rows no output reads",
    x: [2, 13, 7, 3],
    filter: [3, 2, 3, 5],
    strides: [3, 1],
    pad: "valid",
  },
  { name: "cnn preset conv 1", x: [4, 28, 28, 1], filter: [5, 5, 1, 8], strides: 1, pad: "same" },
  { name: "cnn preset conv 2", x: [3, 12, 12, 8], filter: [5, 5, 8, 16], strides: 1, pad: "valid" },
];

describe("Conv2DBackpropFilter on wasm", () => {
  beforeAll(initBackends);

  it.each(cases)("matches the cpu backend: $name", async (c) => {
    const x = { values: randomValues(c.x, 1), shape: c.x };
    const dyShape = outputShape(c);
    const dy = { values: randomValues(dyShape, 2), shape: dyShape };
    const attrs = { strides: c.strides, pad: c.pad, dataFormat: "NHWC", filterShape: c.filter };
    const cpu = await runKernelOn("cpu", "Conv2DBackpropFilter", { x, dy }, attrs);
    const wasm = await runKernelOn("wasm", "Conv2DBackpropFilter", { x, dy }, attrs);
    expect(wasm.shape).toEqual(c.filter);
    expect(maxAbsDiff(wasm.values, cpu.values)).toBeLessThanOrEqual(1e-4);
    expect(wasm.leakedDataIds).toBe(0);
  });

  // The kernel's attributes carry no dilations (tfjs's conv2d gradient rejects them), but
  // the implementation takes them. A dilated filter equals an undilated one with zero
  // taps in between, which gives a cpu reference.
  it.each([
    {
      name: "same, dilation 2",
      x: [2, 11, 10, 3],
      filter: [3, 3, 3, 2],
      strides: 1,
      pad: "same",
      dilations: [2, 2],
    },
    {
      name: "valid, dilations [3, 2]",
      x: [2, 12, 12, 2],
      filter: [2, 3, 2, 3],
      strides: 1,
      pad: "valid",
      dilations: [3, 2],
    },
    {
      name: "same, stride 2 and dilation 2",
      x: [2, 13, 12, 2],
      filter: [3, 3, 2, 2],
      strides: 2,
      pad: "same",
      dilations: [2, 2],
    },
  ] as (Case & { dilations: [number, number] })[])(
    "matches the cpu backend with $name",
    async (c) => {
      const dilated = dilateFilter(
        new Float32Array(c.filter.reduce((a, d) => a * d, 1)),
        c.filter,
        c.dilations,
      );
      const dyShape = outputShape(c, c.dilations);
      const x = { values: randomValues(c.x, 3), shape: c.x };
      const dy = { values: randomValues(dyShape, 4), shape: dyShape };
      const cpu = await runKernelOn(
        "cpu",
        "Conv2DBackpropFilter",
        { x, dy },
        { strides: c.strides, pad: c.pad, dataFormat: "NHWC", filterShape: dilated.shape },
      );
      const expected = undilateFilter(cpu.values, c.filter, c.dilations);

      await tf.setBackend("wasm");
      const backend = tf.backend();
      const before = backend.numDataIds();
      const [xTensor, dyTensor] = [tf.tensor(x.values, x.shape), tf.tensor(dy.values, dy.shape)];
      const out = conv2dBackpropFilter({
        backend,
        backendName: "wasm",
        x: xTensor,
        dy: dyTensor,
        filterShape: c.filter,
        strides: c.strides,
        pad: c.pad,
        dilations: c.dilations,
      });
      const actual = backend.readSync(out.dataId) as Float32Array;
      backend.disposeData(out.dataId);
      tf.dispose([xTensor, dyTensor]);
      expect(out.shape).toEqual(c.filter);
      expect(maxAbsDiff(actual, expected)).toBeLessThanOrEqual(1e-4);
      expect(backend.numDataIds()).toBe(before);
    },
  );

  it("rejects a dy whose shape does not match the convolution", async () => {
    await tf.setBackend("wasm");
    const x = tf.zeros([1, 6, 6, 1]);
    const dy = tf.zeros([1, 5, 5, 2]);
    expect(() =>
      tf
        .engine()
        .runKernel(
          "Conv2DBackpropFilter",
          { x, dy },
          { strides: 1, pad: "same", dataFormat: "NHWC", filterShape: [3, 3, 1, 2] },
        ),
    ).toThrow(/expected \[1, 6, 6, 2\]/);
    tf.dispose([x, dy]);
  });
});
