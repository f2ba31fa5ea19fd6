import type { BatchMatMulAttrs, KernelBackend, KernelFunc, TensorInfo } from "@tensorflow/tfjs";
import { callKernel, disposeTensorInfos } from "./call-kernel.js";
import { requireInput } from "./require-input.js";

function batchSize(shape: readonly number[]): number {
  let size = 1;
  for (let i = 0; i < shape.length - 2; i++) size *= shape[i];
  return size;
}

/** Swaps the two innermost axes. */
function transposeInner(backend: KernelBackend, backendName: string, x: TensorInfo): TensorInfo {
  const perm = x.shape.map((_, i) => i);
  const rank = perm.length;
  [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1], perm[rank - 2]];
  return callKernel({
    backend,
    backendName,
    kernelName: "Transpose",
    inputs: { x },
    attrs: { perm },
  });
}

/**
 * Wraps tfjs-backend-wasm's BatchMatMul (or _FusedMatMul, which shares its C++), which hands a product to XNNPACK only when
 * neither operand is transposed and there is a single batch; anything else falls to a
 * scalar triple loop. Backpropagation through a dense layer asks for exactly those
 * products (xᵀ·dy for the weights, dy·Wᵀ for the input), so this materialises the
 * transposes — a copy linear in the operand — and lets XNNPACK do the cubic part.
 */
export function makeBatchMatMulKernelFunc(original: KernelFunc, backendName: string): KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { transposeA, transposeB } = attrs as unknown as BatchMatMulAttrs;
    const a = requireInput(inputs, "a", "BatchMatMul");
    const b = requireInput(inputs, "b", "BatchMatMul");
    const kernelBackend = backend as KernelBackend;
    if (
      (!transposeA && !transposeB) ||
      batchSize(a.shape) !== 1 ||
      batchSize(b.shape) !== 1 ||
      a.dtype !== "float32" ||
      b.dtype !== "float32"
    ) {
      return original({ inputs, backend, attrs });
    }
    const owned: TensorInfo[] = [];
    const aPlain = transposeA ? transposeInner(kernelBackend, backendName, a) : a;
    const bPlain = transposeB ? transposeInner(kernelBackend, backendName, b) : b;
    if (transposeA) owned.push(aPlain);
    if (transposeB) owned.push(bPlain);
    const out = original({
      inputs: { ...inputs, a: aPlain, b: bPlain },
      backend,
      attrs: { ...attrs, transposeA: false, transposeB: false },
    });
    disposeTensorInfos(kernelBackend, owned);
    return out;
  };
}
