import type { KernelBackend, KernelFunc, MaxPoolGradAttrs, TensorInfo } from "@tensorflow/tfjs";
import { backend_util } from "@tensorflow/tfjs";
import { assertShape } from "./assert-shape.js";
import { WasmGradKernelError } from "./errors.js";
import { computeFloat32Output } from "./heap.js";
import { requireInput } from "./require-input.js";

export interface MaxPoolGradParameters {
  backend: KernelBackend;
  /** Forward input, NHWC, float32. */
  x: TensorInfo;
  /** Gradient of the pooled output, NHWC. */
  dy: TensorInfo;
  filterSize: [number, number] | number;
  strides: [number, number] | number;
  pad: MaxPoolGradAttrs["pad"];
  dimRoundingMode?: "floor" | "round" | "ceil";
}

export type MaxPoolGradReturnType = TensorInfo;

/**
 * Routes each output gradient to the first maximum of its window (row-major scan, strict
 * `>`), exactly as the cpu backend and TensorFlow do; overlapping windows accumulate.
 *
 * A typed-array loop rather than a composition of kernels: the work is one compare per
 * window tap and one add per output, so a kernel chain (transpose, argmax, one-hot,
 * multiply, transpose back) would only move more memory. tfjs-backend-wasm 4.22 ships
 * its own MaxPoolGrad, but it seeds the running maximum with FLT_MIN (the smallest
 * positive float), so a window whose values are all negative sends its gradient to the
 * window's first tap instead of its maximum.
 */
export function maxPoolGrad(parameters: MaxPoolGradParameters): MaxPoolGradReturnType {
  const { backend, x, dy, filterSize, strides, pad, dimRoundingMode } = parameters;
  const info = backend_util.computePool2DInfo(
    x.shape as [number, number, number, number],
    filterSize,
    strides,
    1,
    pad,
    dimRoundingMode,
  );
  assertShape("MaxPoolGrad: dy", dy.shape, info.outShape);
  if (x.dtype !== "float32" || dy.dtype !== "float32") {
    throw new WasmGradKernelError("MaxPoolGrad on wasm supports float32 only");
  }
  const geometry: PoolGeometry = {
    batchSize: info.batchSize,
    inHeight: info.inHeight,
    inWidth: info.inWidth,
    channels: info.inChannels,
    outHeight: info.outHeight,
    outWidth: info.outWidth,
    strideHeight: info.strideHeight,
    strideWidth: info.strideWidth,
    filterHeight: info.filterHeight,
    filterWidth: info.filterWidth,
    top: info.padInfo.top,
    left: info.padInfo.left,
  };
  const isTiled2x2 =
    geometry.filterHeight === 2 &&
    geometry.filterWidth === 2 &&
    geometry.strideHeight === 2 &&
    geometry.strideWidth === 2 &&
    geometry.top === 0 &&
    geometry.left === 0 &&
    2 * geometry.outHeight <= geometry.inHeight &&
    2 * geometry.outWidth <= geometry.inWidth;
  return computeFloat32Output({
    backend,
    shape: x.shape,
    inputs: [x, dy],
    compute: (dx, [xs, dys]) =>
      isTiled2x2
        ? route2x2(geometry, xs as Float32Array, dys as Float32Array, dx)
        : routeAnyWindow(geometry, xs as Float32Array, dys as Float32Array, dx),
  });
}

interface PoolGeometry {
  batchSize: number;
  inHeight: number;
  inWidth: number;
  channels: number;
  outHeight: number;
  outWidth: number;
  strideHeight: number;
  strideWidth: number;
  filterHeight: number;
  filterWidth: number;
  top: number;
  left: number;
}

function routeAnyWindow(
  g: PoolGeometry,
  xs: Float32Array,
  dys: Float32Array,
  dx: Float32Array,
): void {
  const rowStride = g.inWidth * g.channels;
  let dyIndex = 0;
  for (let b = 0; b < g.batchSize; b++) {
    const batchBase = b * g.inHeight * rowStride;
    for (let oh = 0; oh < g.outHeight; oh++) {
      const hStart = oh * g.strideHeight - g.top;
      const khFrom = Math.max(0, -hStart);
      const khTo = Math.min(g.filterHeight, g.inHeight - hStart);
      for (let ow = 0; ow < g.outWidth; ow++) {
        const wStart = ow * g.strideWidth - g.left;
        const kwFrom = Math.max(0, -wStart);
        const kwTo = Math.min(g.filterWidth, g.inWidth - wStart);
        const windowBase = batchBase + hStart * rowStride + wStart * g.channels;
        for (let c = 0; c < g.channels; c++, dyIndex++) {
          let best = Number.NEGATIVE_INFINITY;
          let bestIndex = -1;
          for (let kh = khFrom; kh < khTo; kh++) {
            const rowBase = windowBase + kh * rowStride + c;
            for (let kw = kwFrom; kw < kwTo; kw++) {
              const index = rowBase + kw * g.channels;
              const value = xs[index];
              if (value > best) {
                best = value;
                bestIndex = index;
              }
            }
          }
          if (bestIndex >= 0) dx[bestIndex] += dys[dyIndex];
        }
      }
    }
  }
}

/**
 * The 2×2, stride-2 pool every preset uses, unrolled: windows never overlap, so each
 * gradient is stored rather than accumulated, and the four taps need no bounds checks.
 */
function route2x2(g: PoolGeometry, xs: Float32Array, dys: Float32Array, dx: Float32Array): void {
  const c = g.channels;
  const rowStride = g.inWidth * c;
  let dyIndex = 0;
  for (let b = 0; b < g.batchSize; b++) {
    const batchBase = b * g.inHeight * rowStride;
    for (let oh = 0; oh < g.outHeight; oh++) {
      const rowBase = batchBase + 2 * oh * rowStride;
      for (let ow = 0; ow < g.outWidth; ow++) {
        const pixelBase = rowBase + 2 * ow * c;
        for (let ch = 0; ch < c; ch++, dyIndex++) {
          const i0 = pixelBase + ch;
          const i1 = i0 + c;
          const i2 = i0 + rowStride;
          const i3 = i2 + c;
          let best = Number.NEGATIVE_INFINITY;
          let bestIndex = -1;
          const v0 = xs[i0];
          if (v0 > best) {
            best = v0;
            bestIndex = i0;
          }
          const v1 = xs[i1];
          if (v1 > best) {
            best = v1;
            bestIndex = i1;
          }
          const v2 = xs[i2];
          if (v2 > best) {
            best = v2;
            bestIndex = i2;
          }
          if (xs[i3] > best) bestIndex = i3;
          if (bestIndex >= 0) dx[bestIndex] = dys[dyIndex];
        }
      }
    }
  }
}

export const maxPoolGradKernelFunc: KernelFunc = ({ inputs, backend, attrs }) => {
  const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as MaxPoolGradAttrs;
  return maxPoolGrad({
    backend: backend as KernelBackend,
    x: requireInput(inputs, "input", "MaxPoolGrad"),
    dy: requireInput(inputs, "dy", "MaxPoolGrad"),
    filterSize,
    strides,
    pad,
    dimRoundingMode,
  });
};
