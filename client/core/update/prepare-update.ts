import type { Rng } from "../../../protocol/random.js";
import {
  encodeUpdate,
  maxQuantized,
  quantize,
  quantizedNormBound,
  squaredNormQuantized,
} from "../../../protocol/update/quantize.js";
import { clipL2, l2Norm } from "./clip.js";

export interface PrepareUpdateParameters {
  delta: Float32Array;
  clipNorm: number;
  bits: number;
  scale: number;
  stochastic?: boolean;
  rng?: Rng;
}

export interface PrepareUpdateReturnType {
  q: Int32Array;
  bytes: Uint8Array;
  /** ‖Δ‖ before clipping, for the device's metrics and adaptive clipping. */
  norm: number;
  squaredNormQ: bigint;
}

/**
 * Clip, quantise and encode an update. Rounding can push the quantised norm a hair above
 * the float clip bound (each coordinate moves by up to half a step), so the update is
 * shrunk until Σ q² fits the bound exactly: an honest device must never produce an
 * update that the verifier or the circuit would reject.
 */
export function prepareUpdate(parameters: PrepareUpdateParameters): PrepareUpdateReturnType {
  const { delta, clipNorm, bits, scale } = parameters;
  const norm = l2Norm(delta);
  const bound = quantizedNormBound(clipNorm, scale);
  let target = clipNorm;
  for (let attempt = 0; attempt < 50; attempt++) {
    const { clipped } = clipL2(delta, target);
    const q = quantize(clipped, {
      bits,
      scale,
      stochastic: parameters.stochastic,
      rng: parameters.rng,
    });
    const squaredNormQ = squaredNormQuantized(q);
    if (squaredNormQ <= bound) return { q, bytes: encodeUpdate(q, bits), norm, squaredNormQ };
    // Shrink by at least the worst-case rounding error √n·scale/2, then keep halving the gap.
    target = Math.max(0, target - Math.max(Math.sqrt(delta.length) * scale * 0.5, target * 1e-3));
  }
  // Unreachable for sane parameters: an all-zero update always fits.
  const q = new Int32Array(delta.length);
  return { q, bytes: encodeUpdate(q, bits), norm, squaredNormQ: 0n };
}

export { maxQuantized };
