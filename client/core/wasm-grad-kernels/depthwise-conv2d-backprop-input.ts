import type {
  DepthwiseConv2dNativeBackpropInputAttrs,
  KernelBackend,
  KernelFunc,
  NamedAttrMap,
  TensorInfo,
} from "@tensorflow/tfjs";
import { backend_util } from "@tensorflow/tfjs";
import { assertShape } from "./assert-shape.js";
import { callKernel, disposeTensorInfos } from "./call-kernel.js";
import { fitPadding } from "./fit-padding.js";
import { requireInput } from "./require-input.js";
import { spreadByStride } from "./spread-by-stride.js";

export interface DepthwiseConv2dBackpropInputParameters {
  backend: KernelBackend;
  /** Backend whose DepthwiseConv2dNative, Reverse, PadV2, Slice and Sum kernels do the work. */
  backendName: string;
  /** Gradient of the forward output, NHWC with Ci·M channels. */
  dy: TensorInfo;
  /** Forward filter, [KH, KW, Ci, M]. */
  filter: TensorInfo;
  inputShape: [number, number, number, number];
  strides: [number, number] | number;
  dilations: [number, number] | number;
  pad: DepthwiseConv2dNativeBackpropInputAttrs["pad"];
  dimRoundingMode?: "floor" | "round" | "ceil";
}

export type DepthwiseConv2dBackpropInputReturnType = TensorInfo;

/**
 * dx[n,h,w,ci] = Σ_{kh,kw,m} dy[n,oh,ow,ci·M+m] · W[kh,kw,ci,m], h = oh·sh + kh·dh − pt
 *
 * Read dy as Ci·M channels and the filter, rotated by 180°, as [KH, KW, Ci·M, 1] (the
 * same memory): each channel ci·M+m is then a depthwise convolution of the stride-spread
 * dy, which the backend's DepthwiseConv2dNative (XNNPACK) runs; the M products of one
 * input channel are summed afterwards.
 */
export function depthwiseConv2dBackpropInput(
  parameters: DepthwiseConv2dBackpropInputParameters,
): DepthwiseConv2dBackpropInputReturnType {
  const { backend, backendName, dy, filter, inputShape, strides, dilations, pad } = parameters;
  const filterShape = filter.shape as [number, number, number, number];
  const info = backend_util.computeConv2DInfo(
    inputShape,
    filterShape,
    strides,
    dilations,
    pad,
    parameters.dimRoundingMode,
    true,
  );
  assertShape("DepthwiseConv2dNativeBackpropInput: dy", dy.shape, info.outShape);
  const [filterHeight, filterWidth, inChannels, multiplier] = filterShape;
  const { batchSize, inHeight, inWidth, strideHeight, strideWidth } = info;
  const { dilationHeight, dilationWidth } = info;
  const call = (kernelName: string, inputs: Record<string, TensorInfo>, attrs: NamedAttrMap) =>
    callKernel({ backend, backendName, kernelName, inputs, attrs });
  const owned: TensorInfo[] = [];

  const rotated = call("Reverse", { x: filter }, { dims: [0, 1] });
  const perChannel = call(
    "Reshape",
    { x: rotated },
    { shape: [filterHeight, filterWidth, inChannels * multiplier, 1] },
  );
  owned.push(rotated, perChannel);
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
  let result = call(
    "DepthwiseConv2dNative",
    { x: spread, filter: perChannel },
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

  const [, resultHeight, resultWidth] = result.shape;
  if (
    rows.begin !== 0 ||
    cols.begin !== 0 ||
    resultHeight !== inHeight ||
    resultWidth !== inWidth
  ) {
    const sliced = call(
      "Slice",
      { x: result },
      {
        begin: [0, rows.begin, cols.begin, 0],
        size: [batchSize, inHeight, inWidth, inChannels * multiplier],
      },
    );
    disposeTensorInfos(backend, [result]);
    result = sliced;
  }
  if (multiplier === 1) return result;
  const grouped = call(
    "Reshape",
    { x: result },
    { shape: [batchSize, inHeight, inWidth, inChannels, multiplier] },
  );
  const dx = call("Sum", { x: grouped }, { axis: [4], keepDims: false });
  disposeTensorInfos(backend, [result, grouped]);
  return dx;
}

export const depthwiseConv2dBackpropInputKernelFunc: KernelFunc = ({ inputs, backend, attrs }) => {
  const { strides, dilations, pad, dimRoundingMode, inputShape } =
    attrs as unknown as DepthwiseConv2dNativeBackpropInputAttrs;
  return depthwiseConv2dBackpropInput({
    backend: backend as KernelBackend,
    backendName: "wasm",
    dy: requireInput(inputs, "dy", "DepthwiseConv2dNativeBackpropInput"),
    filter: requireInput(inputs, "filter", "DepthwiseConv2dNativeBackpropInput"),
    inputShape,
    strides,
    dilations,
    pad,
    dimRoundingMode,
  });
};
