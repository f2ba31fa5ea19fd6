import type {
  Conv2DBackpropFilterAttrs,
  KernelBackend,
  KernelFunc,
  TensorInfo,
} from "@tensorflow/tfjs";
import { backend_util } from "@tensorflow/tfjs";
import { assertShape } from "./assert-shape.js";
import { callKernel, disposeTensorInfos } from "./call-kernel.js";
import { WasmGradKernelError } from "./errors.js";
import { requireInput } from "./require-input.js";

export interface Conv2dBackpropFilterParameters {
  backend: KernelBackend;
  /** Backend whose Conv2D, Transpose and Slice kernels do the work. */
  backendName: string;
  /** Forward input, NHWC. */
  x: TensorInfo;
  /** Gradient of the forward output, NHWC. */
  dy: TensorInfo;
  filterShape: [number, number, number, number];
  strides: [number, number] | number;
  pad: Conv2DBackpropFilterAttrs["pad"];
  /** The kernel's attributes carry no dilations; callers that know them may pass them. */
  dilations?: [number, number] | number;
  dimRoundingMode?: "floor" | "round" | "ceil";
}

export type Conv2dBackpropFilterReturnType = TensorInfo;

/**
 * dW[kh,kw,ci,co] = Σ_{n,oh,ow} x[n, oh·sh + kh·dh − pt, ow·sw + kw·dw − pl, ci] · dy[n,oh,ow,co]
 *
 * Read with ci as the batch, the image rows/columns as space, n as the channel, and dy as
 * a filter of size OH×OW with N input and Co output channels, this is itself a forward
 * convolution: the forward stride becomes the dilation and the forward dilation the
 * stride. So the whole reduction runs in the backend's Conv2D (XNNPACK's indirect GEMM
 * on wasm), with two transposes in and one out, instead of an im2col built in JS.
 */
export function conv2dBackpropFilter(
  parameters: Conv2dBackpropFilterParameters,
): Conv2dBackpropFilterReturnType {
  const { backend, backendName, x, dy, filterShape, strides, pad } = parameters;
  const dilations = parameters.dilations ?? 1;
  const info = backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    strides,
    dilations,
    pad,
    parameters.dimRoundingMode,
  );
  assertShape("Conv2DBackpropFilter: dy", dy.shape, info.outShape);
  const [filterHeight, filterWidth, inChannels, outChannels] = filterShape;
  const { strideHeight, strideWidth, dilationHeight, dilationWidth } = info;
  const { top, left } = info.padInfo;
  // The far-side padding the forward pass used may reach past what the last filter tap
  // reads; pad exactly up to the last row and column any tap touches instead.
  const padBottom = Math.max(
    0,
    (filterHeight - 1) * dilationHeight +
      (info.outHeight - 1) * strideHeight +
      1 -
      info.inHeight -
      top,
  );
  const padRight = Math.max(
    0,
    (filterWidth - 1) * dilationWidth + (info.outWidth - 1) * strideWidth + 1 - info.inWidth - left,
  );

  const call = (kernelName: string, inputs: Record<string, TensorInfo>, attrs = {}) =>
    callKernel({ backend, backendName, kernelName, inputs, attrs });
  const xT = call("Transpose", { x }, { perm: [3, 1, 2, 0] });
  const dyT = call("Transpose", { x: dy }, { perm: [1, 2, 0, 3] });
  const conv = call(
    "Conv2D",
    { x: xT, filter: dyT },
    {
      strides: [dilationHeight, dilationWidth],
      dilations: [strideHeight, strideWidth],
      pad: [
        [0, 0],
        [top, padBottom],
        [left, padRight],
        [0, 0],
      ],
      dataFormat: "NHWC",
    },
  );
  disposeTensorInfos(backend, [xT, dyT]);

  // A 'valid' forward pass with stride can leave input rows that no output read; the
  // convolution above then yields taps beyond the filter, which are cut off here.
  let taps = conv;
  if (conv.shape[1] !== filterHeight || conv.shape[2] !== filterWidth) {
    taps = call(
      "Slice",
      { x: conv },
      { begin: [0, 0, 0, 0], size: [inChannels, filterHeight, filterWidth, outChannels] },
    );
    disposeTensorInfos(backend, [conv]);
  }
  // [ci, kh, kw, co] → [kh, kw, ci, co]; with one input channel the memory order already agrees.
  const out =
    inChannels === 1
      ? call("Reshape", { x: taps }, { shape: filterShape })
      : call("Transpose", { x: taps }, { perm: [1, 2, 0, 3] });
  disposeTensorInfos(backend, [taps]);
  return out;
}

export const conv2dBackpropFilterKernelFunc: KernelFunc = ({ inputs, backend, attrs }) => {
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } =
    attrs as unknown as Conv2DBackpropFilterAttrs;
  if (dataFormat === "NCHW") {
    throw new WasmGradKernelError("Conv2DBackpropFilter on wasm supports NHWC only");
  }
  return conv2dBackpropFilter({
    backend: backend as KernelBackend,
    backendName: "wasm",
    x: requireInput(inputs, "x", "Conv2DBackpropFilter"),
    dy: requireInput(inputs, "dy", "Conv2DBackpropFilter"),
    filterShape,
    strides,
    pad,
    dimRoundingMode,
  });
};
