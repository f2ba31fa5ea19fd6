import type {
  KernelBackend,
  KernelFunc,
  TensorInfo,
  UnsortedSegmentSumAttrs,
} from "@tensorflow/tfjs";
import { WasmGradKernelError } from "./errors.js";
import { computeFloat32Output } from "./heap.js";
import { requireInput } from "./require-input.js";

export interface UnsortedSegmentSumParameters {
  backend: KernelBackend;
  /** float32, first axes indexed by `segmentIds`. */
  x: TensorInfo;
  /** int32 ids, shaped like the leading axes of `x`. */
  segmentIds: TensorInfo;
  numSegments: number;
}

export type UnsortedSegmentSumReturnType = TensorInfo;

/**
 * out[s, …] = Σ_{i : ids[i] = s} x[i, …]; ids outside [0, numSegments) are dropped, as
 * TensorFlow does. This is the gradient of Gather (an embedding lookup), a scatter-add
 * that no dense kernel expresses; it reads each element once, so a loop is the right tool.
 */
export function unsortedSegmentSum(
  parameters: UnsortedSegmentSumParameters,
): UnsortedSegmentSumReturnType {
  const { backend, x, segmentIds, numSegments } = parameters;
  if (x.dtype !== "float32" || segmentIds.dtype !== "int32") {
    throw new WasmGradKernelError("UnsortedSegmentSum on wasm supports float32 x, int32 ids");
  }
  const idsSize = segmentIds.shape.reduce((a, d) => a * d, 1);
  const xSize = x.shape.reduce((a, d) => a * d, 1);
  const leading = x.shape.slice(0, segmentIds.shape.length);
  if (
    leading.length !== segmentIds.shape.length ||
    leading.some((d, i) => d !== segmentIds.shape[i])
  ) {
    throw new WasmGradKernelError(
      `UnsortedSegmentSum: ids of shape [${segmentIds.shape.join(", ")}] do not lead x of shape [${x.shape.join(", ")}]`,
    );
  }
  const inner = idsSize === 0 ? 0 : xSize / idsSize;
  const outShape = [numSegments, ...x.shape.slice(segmentIds.shape.length)];
  return computeFloat32Output({
    backend,
    shape: outShape,
    inputs: [x, segmentIds],
    compute: (out, [xValues, idValues]) => {
      for (let i = 0; i < idsSize; i++) {
        const segment = idValues[i];
        if (segment < 0 || segment >= numSegments) continue;
        const from = i * inner;
        const to = segment * inner;
        for (let j = 0; j < inner; j++) out[to + j] += xValues[from + j];
      }
    },
  });
}

export const unsortedSegmentSumKernelFunc: KernelFunc = ({ inputs, backend, attrs }) => {
  const { numSegments } = attrs as unknown as UnsortedSegmentSumAttrs;
  return unsortedSegmentSum({
    backend: backend as KernelBackend,
    x: requireInput(inputs, "x", "UnsortedSegmentSum"),
    segmentIds: requireInput(inputs, "segmentIds", "UnsortedSegmentSum"),
    numSegments,
  });
};
