import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { conv2dBackpropInput } from "./conv2d-backprop-input.js";
import {
  dilateFilter,
  initBackends,
  maxAbsDiff,
  randomValues,
  runKernelOn,
} from "./test-helpers.js";

type Pad = "same" | "valid" | number | [[0, 0], [number, number], [number, number], [0, 0]];

interface Case {
  name: string;
  x: [number, number, number, number];
  filter: [number, number, number, number];
  strides: number | [number, number];
  pad: Pad;
  dilations?: [number, number];
}

function outputShape(c: Case): number[] {
  return tf.backend_util.computeConv2DInfo(c.x, c.filter, c.strides, c.dilations ?? 1, c.pad)
    .outShape;
}

const cases: Case[] = [
  { name: "same, stride 1", x: [2, 9, 9, 3], filter: [3, 3, 3, 4], strides: 1, pad: "same" },
  { name: "valid, stride 2", x: [2, 9, 9, 3], filter: [3, 3, 3, 4], strides: 2, pad: "valid" },
  {
    name: "same, stride 2, one input channel",
    x: [3, 10, 11, 1],
    filter: [5, 5, 1, 4],
    strides: 2,
    pad: "same",
  },
  { name: "one output channel", x: [2, 7, 6, 3], filter: [3, 2, 3, 1], strides: 1, pad: "valid" },
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
  {
    name: "padding wider than the filter",
    x: [2, 6, 7, 2],
    filter: [2, 3, 2, 3],
    strides: 1,
    pad: [
      [0, 0],
      [3, 1],
      [0, 4],
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
  { name: "cnn preset conv 2", x: [3, 14, 14, 8], filter: [5, 5, 8, 16], strides: 1, pad: "same" },
];

describe("Conv2DBackpropInput on wasm", () => {
  beforeAll(initBackends);

  it.each(cases)("matches the cpu backend: $name", async (c) => {
    const dyShape = outputShape(c);
    const dy = { values: randomValues(dyShape, 5), shape: dyShape };
    const filter = { values: randomValues(c.filter, 6), shape: c.filter };
    const attrs = { strides: c.strides, pad: c.pad, dataFormat: "NHWC", inputShape: c.x };
    const cpu = await runKernelOn("cpu", "Conv2DBackpropInput", { dy, filter }, attrs);
    const wasm = await runKernelOn("wasm", "Conv2DBackpropInput", { dy, filter }, attrs);
    expect(wasm.shape).toEqual(c.x);
    expect(maxAbsDiff(wasm.values, cpu.values)).toBeLessThanOrEqual(1e-4);
    expect(wasm.leakedDataIds).toBe(0);
  });

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
      const dyShape = outputShape(c);
      const dy = { values: randomValues(dyShape, 7), shape: dyShape };
      const filterValues = randomValues(c.filter, 8);
      const dilated = dilateFilter(filterValues, c.filter, c.dilations);
      const cpu = await runKernelOn(
        "cpu",
        "Conv2DBackpropInput",
        { dy, filter: dilated },
        { strides: c.strides, pad: c.pad, dataFormat: "NHWC", inputShape: c.x },
      );

      await tf.setBackend("wasm");
      const backend = tf.backend();
      const before = backend.numDataIds();
      const dyTensor = tf.tensor(dy.values, dy.shape);
      const filterTensor = tf.tensor(filterValues, c.filter);
      const out = conv2dBackpropInput({
        backend,
        backendName: "wasm",
        dy: dyTensor,
        filter: filterTensor,
        inputShape: c.x,
        strides: c.strides,
        pad: c.pad,
        dilations: c.dilations,
      });
      const actual = backend.readSync(out.dataId) as Float32Array;
      backend.disposeData(out.dataId);
      tf.dispose([dyTensor, filterTensor]);
      expect(out.shape).toEqual(c.x);
      expect(maxAbsDiff(actual, cpu.values)).toBeLessThanOrEqual(1e-4);
      expect(backend.numDataIds()).toBe(before);
    },
  );

  it("refuses NCHW data, which the wasm Conv2D it builds on cannot read", async () => {
    await tf.setBackend("wasm");
    const dy = tf.zeros([1, 2, 4, 4]);
    const filter = tf.zeros([3, 3, 1, 2]);
    expect(() =>
      tf
        .engine()
        .runKernel(
          "Conv2DBackpropInput",
          { dy, filter },
          { strides: 1, pad: "same", dataFormat: "NCHW", inputShape: [1, 1, 4, 4] },
        ),
    ).toThrow(/NHWC only/);
    tf.dispose([dy, filter]);
  });
});
