import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import {
  dilateFilter,
  initBackends,
  maxAbsDiff,
  randomValues,
  runKernelOn,
  undilateFilter,
} from "./test-helpers.js";

interface Case {
  name: string;
  x: [number, number, number, number];
  /** [KH, KW, Ci, M] */
  filter: [number, number, number, number];
  strides: number | [number, number];
  pad: "same" | "valid" | number;
  dilations: [number, number];
}

const cases: Case[] = [
  {
    name: "same, stride 1, multiplier 1",
    x: [2, 8, 8, 3],
    filter: [3, 3, 3, 1],
    strides: 1,
    pad: "same",
    dilations: [1, 1],
  },
  {
    name: "valid, stride 2, multiplier 2",
    x: [2, 9, 9, 3],
    filter: [3, 3, 3, 2],
    strides: 2,
    pad: "valid",
    dilations: [1, 1],
  },
  {
    name: "same, strides [2, 1], multiplier 3",
    x: [3, 10, 7, 2],
    filter: [4, 2, 2, 3],
    strides: [2, 1],
    pad: "same",
    dilations: [1, 1],
  },
  {
    name: "numeric padding",
    x: [2, 6, 6, 2],
    filter: [3, 3, 2, 1],
    strides: 1,
    pad: 1,
    dilations: [1, 1],
  },
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
    filter: [2, 3, 2, 1],
    strides: 1,
    pad: "valid",
    dilations: [3, 2],
  },
];

function outputShape(c: Case): number[] {
  return tf.backend_util.computeConv2DInfo(
    c.x,
    c.filter,
    c.strides,
    c.dilations,
    c.pad,
    undefined,
    true,
  ).outShape;
}

// The cpu backend's depthwise gradient kernels take dilations but ignore them in their
// loops, so the reference runs them undilated on a filter with zero taps in between.
describe("depthwise conv gradients on wasm", () => {
  beforeAll(initBackends);

  it.each(cases)("DepthwiseConv2dNativeBackpropInput matches the cpu backend: $name", async (c) => {
    const dyShape = outputShape(c);
    const dy = { values: randomValues(dyShape, 31), shape: dyShape };
    const filterValues = randomValues(c.filter, 32);
    const dilated = dilateFilter(filterValues, c.filter, c.dilations);
    const attrs = { strides: c.strides, pad: c.pad, inputShape: c.x };
    const cpu = await runKernelOn(
      "cpu",
      "DepthwiseConv2dNativeBackpropInput",
      { dy, filter: dilated },
      { ...attrs, dilations: 1 },
    );
    const wasm = await runKernelOn(
      "wasm",
      "DepthwiseConv2dNativeBackpropInput",
      { dy, filter: { values: filterValues, shape: c.filter } },
      { ...attrs, dilations: c.dilations },
    );
    expect(wasm.shape).toEqual(c.x);
    expect(maxAbsDiff(wasm.values, cpu.values)).toBeLessThanOrEqual(1e-4);
    expect(wasm.leakedDataIds).toBe(0);
  });

  it.each(cases)(
    "DepthwiseConv2dNativeBackpropFilter matches the cpu backend: $name",
    async (c) => {
      const dyShape = outputShape(c);
      const x = { values: randomValues(c.x, 33), shape: c.x };
      const dy = { values: randomValues(dyShape, 34), shape: dyShape };
      const dilatedShape = dilateFilter(
        new Float32Array(c.filter.reduce((a, d) => a * d, 1)),
        c.filter,
        c.dilations,
      ).shape;
      const cpu = await runKernelOn(
        "cpu",
        "DepthwiseConv2dNativeBackpropFilter",
        { x, dy },
        { strides: c.strides, pad: c.pad, dilations: 1, filterShape: dilatedShape },
      );
      const wasm = await runKernelOn(
        "wasm",
        "DepthwiseConv2dNativeBackpropFilter",
        { x, dy },
        { strides: c.strides, pad: c.pad, dilations: c.dilations, filterShape: c.filter },
      );
      expect(wasm.shape).toEqual(c.filter);
      expect(
        maxAbsDiff(wasm.values, undilateFilter(cpu.values, c.filter, c.dilations)),
      ).toBeLessThanOrEqual(1e-4);
      expect(wasm.leakedDataIds).toBe(0);
    },
  );
});
