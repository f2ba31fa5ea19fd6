import type {
  DepthwiseConv2dNativeBackpropFilterAttrs,
  KernelBackend,
  KernelFunc,
  TensorInfo,
} from "@tensorflow/tfjs";
import { backend_util } from "@tensorflow/tfjs";
import { assertShape } from "./assert-shape.js";
import { WasmGradKernelError } from "./errors.js";
import { computeFloat32Output } from "./heap.js";
import { requireInput } from "./require-input.js";

export interface DepthwiseConv2dBackpropFilterParameters {
  backend: KernelBackend;
  /** Forward input, NHWC, float32. */
  x: TensorInfo;
  /** Gradient of the forward output, NHWC with Ci·M channels. */
  dy: TensorInfo;
  filterShape: [number, number, number, number];
  strides: [number, number] | number;
  dilations: [number, number] | number;
  pad: DepthwiseConv2dNativeBackpropFilterAttrs["pad"];
  dimRoundingMode?: "floor" | "round" | "ceil";
}

export type DepthwiseConv2dBackpropFilterReturnType = TensorInfo;

/**
 * dW[kh,kw,ci,m] = Σ_{n,oh,ow} x[n, oh·sh + kh·dh − pt, ow·sw + kw·dw − pl, ci] · dy[n,oh,ow,ci·M+m]
 *
 * Unlike the dense case, no convolution the backend offers computes this: channels must
 * not mix, yet the sum runs over the batch, which a grouped convolution would need as its
 * per-group input channels (XNNPACK via tfjs only exposes groups of one). The reduction is
 * small — KH·KW·N·OH·OW·Ci·M products, as many as the forward pass — so it runs as one
 * typed-array loop, accumulated in float64 like the cpu backend does.
 */
export function depthwiseConv2dBackpropFilter(
  parameters: DepthwiseConv2dBackpropFilterParameters,
): DepthwiseConv2dBackpropFilterReturnType {
  const { backend, x, dy, filterShape, strides, dilations, pad } = parameters;
  const info = backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    strides,
    dilations,
    pad,
    parameters.dimRoundingMode,
    true,
  );
  assertShape("DepthwiseConv2dNativeBackpropFilter: dy", dy.shape, info.outShape);
  if (x.dtype !== "float32" || dy.dtype !== "float32") {
    throw new WasmGradKernelError("DepthwiseConv2dNativeBackpropFilter supports float32 only");
  }
  const [filterHeight, filterWidth, inChannels, multiplier] = filterShape;
  const { batchSize, inHeight, inWidth, outHeight, outWidth } = info;
  const { strideHeight, strideWidth, dilationHeight, dilationWidth } = info;
  const { top, left } = info.padInfo;
  const outChannels = inChannels * multiplier;
  return computeFloat32Output({
    backend,
    shape: filterShape,
    inputs: [x, dy],
    compute: (dw, [xValues, dyValues]) => {
      const xs = xValues as Float32Array;
      const dys = dyValues as Float32Array;
      const sums = new Float64Array(dw.length);
      for (let b = 0; b < batchSize; b++) {
        for (let oh = 0; oh < outHeight; oh++) {
          for (let ow = 0; ow < outWidth; ow++) {
            const dyBase = ((b * outHeight + oh) * outWidth + ow) * outChannels;
            for (let kh = 0; kh < filterHeight; kh++) {
              const h = oh * strideHeight + kh * dilationHeight - top;
              if (h < 0 || h >= inHeight) continue;
              for (let kw = 0; kw < filterWidth; kw++) {
                const w = ow * strideWidth + kw * dilationWidth - left;
                if (w < 0 || w >= inWidth) continue;
                const xBase = ((b * inHeight + h) * inWidth + w) * inChannels;
                const dwBase = (kh * filterWidth + kw) * outChannels;
                for (let ci = 0; ci < inChannels; ci++) {
                  const xv = xs[xBase + ci];
                  const channelBase = ci * multiplier;
                  for (let m = 0; m < multiplier; m++) {
                    sums[dwBase + channelBase + m] += xv * dys[dyBase + channelBase + m];
                  }
                }
              }
            }
          }
        }
      }
      dw.set(sums);
    },
  });
}

export const depthwiseConv2dBackpropFilterKernelFunc: KernelFunc = ({ inputs, backend, attrs }) => {
  const { strides, dilations, pad, dimRoundingMode, filterShape } =
    attrs as unknown as DepthwiseConv2dNativeBackpropFilterAttrs;
  return depthwiseConv2dBackpropFilter({
    backend: backend as KernelBackend,
    x: requireInput(inputs, "x", "DepthwiseConv2dNativeBackpropFilter"),
    dy: requireInput(inputs, "dy", "DepthwiseConv2dNativeBackpropFilter"),
    filterShape,
    strides,
    dilations,
    pad,
    dimRoundingMode,
  });
};
