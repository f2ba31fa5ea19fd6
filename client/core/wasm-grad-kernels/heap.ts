import type { KernelBackend, TensorInfo } from "@tensorflow/tfjs";

/** The part of tfjs-backend-wasm's BackendWasm that exposes tensors as views on its heap. */
interface HeapBackend {
  makeOutput(shape: number[], dtype: "float32"): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): Float32Array | Int32Array | Uint8Array;
}

function isHeapBackend(backend: KernelBackend): backend is KernelBackend & HeapBackend {
  const candidate = backend as Partial<HeapBackend>;
  return (
    typeof candidate.makeOutput === "function" && typeof candidate.typedArrayFromHeap === "function"
  );
}

/** An input's values, typed by its dtype (bool as bytes). */
export type InputValues = Float32Array | Int32Array | Uint8Array;

export interface ComputeFloat32OutputParameters {
  backend: KernelBackend;
  shape: number[];
  inputs: readonly TensorInfo[];
  /** Fills `out` (zeroed first) from the inputs' values, in the inputs' order. */
  compute: (out: Float32Array, inputs: readonly InputValues[]) => void;
}

/**
 * Runs a typed-array loop over the inputs' values into a new float32 output. On wasm the
 * arrays are views on the module's heap, so nothing is copied; the views are taken only
 * after the output is allocated, because an allocation may grow (and so detach) the heap.
 * Other backends hand their values over through readSync, which keeps the kernels usable
 * (and testable) anywhere.
 */
export function computeFloat32Output(parameters: ComputeFloat32OutputParameters): TensorInfo {
  const { backend, shape, inputs, compute } = parameters;
  if (isHeapBackend(backend)) {
    const out = backend.makeOutput(shape, "float32");
    const outView = backend.typedArrayFromHeap(out) as Float32Array;
    outView.fill(0);
    compute(
      outView,
      inputs.map((info) => backend.typedArrayFromHeap(info)),
    );
    return out;
  }
  let size = 1;
  for (const d of shape) size *= d;
  const outValues = new Float32Array(size);
  compute(
    outValues,
    inputs.map((info) => backend.readSync(info.dataId) as InputValues),
  );
  const dataId = backend.write(outValues, shape, "float32");
  return { dataId, shape, dtype: "float32" };
}
