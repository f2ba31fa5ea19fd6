import type { KernelBackend, NamedAttrMap, TensorInfo } from "@tensorflow/tfjs";
import { callKernel, disposeTensorInfos } from "./call-kernel.js";

export interface SpreadByStrideParameters {
  backend: KernelBackend;
  backendName: string;
  /** NHWC. */
  x: TensorInfo;
  strideHeight: number;
  strideWidth: number;
}

/**
 * Puts stride−1 zero rows (columns) after every row (column) of an NHWC tensor, the
 * input a transposed convolution needs: [N,H,W,C] → [N,H,1,W,1,C], padded on the unit
 * axes to the strides, read back as [N, H·sh, W·sw, C]. The trailing zeros this leaves
 * are harmless to a convolution that is sliced afterwards. Returns `x` itself (not a
 * copy) for unit strides, so only release the result when it is not `x`.
 */
export function spreadByStride(parameters: SpreadByStrideParameters): TensorInfo {
  const { backend, backendName, x, strideHeight, strideWidth } = parameters;
  if (strideHeight === 1 && strideWidth === 1) return x;
  const [batch, height, width, channels] = x.shape;
  const call = (kernelName: string, input: TensorInfo, attrs: NamedAttrMap) =>
    callKernel({ backend, backendName, kernelName, inputs: { x: input }, attrs });
  const lifted = call("Reshape", x, { shape: [batch, height, 1, width, 1, channels] });
  const padded = call("PadV2", lifted, {
    paddings: [
      [0, 0],
      [0, 0],
      [0, strideHeight - 1],
      [0, 0],
      [0, strideWidth - 1],
      [0, 0],
    ],
    constantValue: 0,
  });
  const spread = call("Reshape", padded, {
    shape: [batch, height * strideHeight, width * strideWidth, channels],
  });
  disposeTensorInfos(backend, [lifted, padded]);
  return spread;
}
