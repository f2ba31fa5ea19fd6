import * as tf from "@tensorflow/tfjs";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import { beforeAll, describe, expect, it } from "vitest";
import { registerWasmGradKernels, unregisterWasmGradKernels } from "./index.js";

const added = [
  "Conv2DBackpropFilter",
  "DepthwiseConv2dNativeBackpropFilter",
  "DepthwiseConv2dNativeBackpropInput",
  "UnsortedSegmentSum",
];
const replaced = ["MaxPoolGrad", "Conv2DBackpropInput", "BatchMatMul", "_FusedMatMul"];

describe("registerWasmGradKernels", () => {
  const builtins = new Map<string, tf.KernelConfig>();

  beforeAll(() => {
    setWasmPaths(new URL("./", import.meta.resolve("@tensorflow/tfjs-backend-wasm")).pathname);
    for (const name of replaced) builtins.set(name, tf.getKernel(name, "wasm"));
  });

  it("adds the missing kernels and replaces the faulty built-ins, once", () => {
    for (const name of added) expect(tf.getKernel(name, "wasm")).toBeUndefined();
    // Registered before the backend initialises, as an application would at start-up.
    expect(registerWasmGradKernels()).toEqual([...added, ...replaced]);
    for (const name of [...added, ...replaced]) expect(tf.getKernel(name, "wasm")).toBeDefined();
    for (const name of replaced) {
      expect(tf.getKernel(name, "wasm").kernelFunc).not.toBe(builtins.get(name)?.kernelFunc);
    }
    expect(registerWasmGradKernels()).toEqual([]);
  });

  it("restores working built-ins even when the backend initialised in between", async () => {
    expect(await tf.setBackend("wasm")).toBe(true);
    expect(unregisterWasmGradKernels()).toEqual([...added, ...replaced]);
    for (const name of added) expect(tf.getKernel(name, "wasm")).toBeUndefined();
    for (const name of replaced) expect(tf.getKernel(name, "wasm")).toBe(builtins.get(name));
    // The built-ins' wasm bindings come from their setup functions, which ran at
    // initialisation only because the replacements carried them.
    const product = tf.tidy(() =>
      tf.matMul(tf.tensor2d([1, 2, 3, 4], [2, 2]), tf.tensor2d([5, 6, 7, 8], [2, 2]), true),
    );
    expect(Array.from(product.dataSync())).toEqual([26, 30, 38, 44]);
    product.dispose();
    expect(unregisterWasmGradKernels()).toEqual([]);
  });

  it("with replaceBuiltins false only adds what is missing", () => {
    expect(registerWasmGradKernels({ replaceBuiltins: false })).toEqual(added);
    for (const name of replaced) expect(tf.getKernel(name, "wasm")).toBe(builtins.get(name));
    expect(registerWasmGradKernels()).toEqual(replaced);
    unregisterWasmGradKernels();
  });

  it("never overwrites a missing kernel that someone else registered", () => {
    const theirs: tf.KernelConfig = {
      kernelName: "Conv2DBackpropFilter",
      backendName: "wasm",
      kernelFunc: () => {
        throw new Error("theirs");
      },
    };
    tf.registerKernel(theirs);
    try {
      expect(registerWasmGradKernels()).not.toContain("Conv2DBackpropFilter");
      expect(tf.getKernel("Conv2DBackpropFilter", "wasm")).toBe(theirs);
      expect(unregisterWasmGradKernels()).not.toContain("Conv2DBackpropFilter");
      expect(tf.getKernel("Conv2DBackpropFilter", "wasm")).toBe(theirs);
    } finally {
      tf.unregisterKernel("Conv2DBackpropFilter", "wasm");
    }
  });
});
