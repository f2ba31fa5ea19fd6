import * as tf from "@tensorflow/tfjs";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import wasmPlain from "@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url";
import wasmSimd from "@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url";
import wasmThreaded from "@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url";
import { registerWasmGradKernels } from "../../../client/core/wasm-grad-kernels/index.js";

export type WebBackend = "webgl" | "wasm" | "cpu";

/**
 * WebGL when the browser has it, else WebAssembly (with the project's gradient kernels, which
 * the wasm backend lacks for training), else plain JavaScript. `preferred` forces one.
 */
export async function selectWebBackend(preferred?: WebBackend): Promise<WebBackend> {
  setWasmPaths({
    "tfjs-backend-wasm.wasm": wasmPlain,
    "tfjs-backend-wasm-simd.wasm": wasmSimd,
    "tfjs-backend-wasm-threaded-simd.wasm": wasmThreaded,
  });
  registerWasmGradKernels();
  const order: WebBackend[] = preferred ? [preferred] : ["webgl", "wasm", "cpu"];
  for (const backend of order) {
    try {
      if (await tf.setBackend(backend)) {
        await tf.ready();
        return backend;
      }
    } catch {
      // Not available here (no WebGL context, no WebAssembly): try the next one.
    }
  }
  await tf.setBackend("cpu");
  return "cpu";
}
