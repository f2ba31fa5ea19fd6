import type {
  Conv2DBackpropInputAttrs,
  KernelBackend,
  KernelFunc,
  TensorInfo,
} from "@tensorflow/tfjs";
import { backend_util } from "@tensorflow/tfjs";
import { assertShape } from "./assert-shape.js";
import { callKernel, disposeTensorInfos } from "./call-kernel.js";
import { WasmGradKernelError } from "./errors.js";
import { fitPadding } from "./fit-padding.js";
import { requireInput } from "./require-input.js";
import { spreadByStride } from "./spread-by-stride.js";

export interface Conv2dBackpropInputParameters {
  backend: KernelBackend;
  /** Backend whose Conv2D, Reverse, Transpose, PadV2 and Slice kernels do the work. */
  backendName: string;
  /** Gradient of the forward output, NHWC. */
  dy: TensorInfo;
  /** Forward filter, [KH, KW, Ci, Co]. */
  filter: TensorInfo;
  inputShape: [number, number, number, number];
  strides: [number, number] | number;
  pad: Conv2DBackpropInputAttrs["pad"];
  /** The kernel's attributes carry no dilations; callers that know them may pass them. */
  dilations?: [number, number] | number;
  dimRoundingMode?: "floor" | "round" | "ceil";
}

export type Conv2dBackpropInputReturnType = TensorInfo;

/**
 * dx[n,h,w,ci] = Σ_{kh,kw,co} dy[n,oh,ow,co] · W[kh,kw,ci,co] where h = oh·sh + kh·dh − pt
 *
 * This is the forward convolution, stride 1, of dy — spread out by the stride with zeros
 * between its pixels — with the filter rotated by 180° and its channel axes swapped, the
 * padding mirrored to (KH−1)·dh − pt. Running it through the backend's Conv2D (XNNPACK
 * on wasm) replaces tfjs-backend-wasm's own Conv2DBackpropInput, a scalar loop that is
 * several times slower than the forward convolution it mirrors.
 */
export function conv2dBackpropInput(
  parameters: Conv2dBackpropInputParameters,
): Conv2dBackpropInputReturnType {
  const { backend, backendName, dy, filter, inputShape, strides, pad } = parameters;
  const filterShape = filter.shape as [number, number, number, number];
  const info = backend_util.computeConv2DInfo(
    inputShape,
    filterShape,
    strides,
    parameters.dilations ?? 1,
    pad,
    parameters.dimRoundingMode,
  );
  assertShape("Conv2DBackpropInput: dy", dy.shape, info.outShape);
  const [filterHeight, filterWidth, inChannels, outChannels] = filterShape;
  const { batchSize, inHeight, inWidth } = info;
  const { strideHeight, strideWidth, dilationHeight, dilationWidth } = info;

  const call = (kernelName: string, inputs: Record<string, TensorInfo>, attrs = {}) =>
    callKernel({ backend, backendName, kernelName, inputs, attrs });
  const owned: TensorInfo[] = [];

  const rotated = call("Reverse", { x: filter }, { dims: [0, 1] });
  owned.push(rotated);
  // [kh, kw, ci, co] → [kh, kw, co, ci]; a single channel on either side needs no move.
  const flipped =
    inChannels === 1 || outChannels === 1
      ? call(
          "Reshape",
          { x: rotated },
          { shape: [filterHeight, filterWidth, outChannels, inChannels] },
        )
      : call("Transpose", { x: rotated }, { perm: [0, 1, 3, 2] });
  owned.push(flipped);

  const spread = spreadByStride({ backend, backendName, x: dy, strideHeight, strideWidth });
  if (spread !== dy) owned.push(spread);
  const rows = fitPadding({
    spreadLength: spread.shape[1],
    inLength: inHeight,
    filterSpan: (filterHeight - 1) * dilationHeight,
    forwardPadBefore: info.padInfo.top,
  });
  const cols = fitPadding({
    spreadLength: spread.shape[2],
    inLength: inWidth,
    filterSpan: (filterWidth - 1) * dilationWidth,
    forwardPadBefore: info.padInfo.left,
  });
  const conv = call(
    "Conv2D",
    { x: spread, filter: flipped },
    {
      strides: [1, 1],
      dilations: [dilationHeight, dilationWidth],
      pad: [
        [0, 0],
        [rows.before, rows.after],
        [cols.before, cols.after],
        [0, 0],
      ],
      dataFormat: "NHWC",
    },
  );
  disposeTensorInfos(backend, owned);
  if (
    rows.begin === 0 &&
    cols.begin === 0 &&
    conv.shape[1] === inHeight &&
    conv.shape[2] === inWidth
  ) {
    return conv;
  }
  const dx = call(
    "Slice",
    { x: conv },
    { begin: [0, rows.begin, cols.begin, 0], size: [batchSize, inHeight, inWidth, inChannels] },
  );
  disposeTensorInfos(backend, [conv]);
  return dx;
}

export const conv2dBackpropInputKernelFunc: KernelFunc = ({ inputs, backend, attrs }) => {
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } =
    attrs as unknown as Conv2DBackpropInputAttrs;
  if (dataFormat === "NCHW") {
    throw new WasmGradKernelError("Conv2DBackpropInput on wasm supports NHWC only");
  }
  return conv2dBackpropInput({
    backend: backend as KernelBackend,
    backendName: "wasm",
    dy: requireInput(inputs, "dy", "Conv2DBackpropInput"),
    filter: requireInput(inputs, "filter", "Conv2DBackpropInput"),
    inputShape,
    strides,
    pad,
    dimRoundingMode,
  });
};
