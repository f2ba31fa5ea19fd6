import {
  cryptoUniform,
  encodeUpdate,
  maxQuantized,
  quantize,
  quantizedNormBound,
  squaredNormQuantized,
  type UniformSource,
} from "../../../protocol/update/quantize.js";
import { clipL2, l2Norm } from "./clip.js";

export interface PrepareUpdateParameters {
  delta: Float32Array;
  clipNorm: number;
  bits: number;
  scale: number;
  /** Unbiased stochastic rounding: E[q] = Δ/scale, for updates of few bits (4, 8). */
  stochastic?: boolean;
  /** The rounding's randomness; default the platform CSPRNG (`cryptoUniform`). */
  rng?: UniformSource;
}

export interface PrepareUpdateReturnType {
  q: Int32Array;
  bytes: Uint8Array;
  /** ‖Δ‖ before clipping, for the device's metrics and adaptive clipping. */
  norm: number;
  squaredNormQ: bigint;
}

/**
 * Clip, quantise and encode an update. Rounding can push the quantised norm above the float
 * clip bound (each coordinate moves by up to half a step, a whole step when rounding
 * stochastically), so the update is shrunk until Σ q² fits the bound exactly: an honest device
 * must never produce an update that the verifier or the circuit would reject.
 *
 * The per-coordinate range follows the clip bound: the job's default scale is
 * C/max(2^(bits−1) − 1, √P) (defaultQuantizationScale), so at 16 bits a clipped coordinate, at
 * most C, always fits; at 4 and 8 bits the range is a multiple of the mean coordinate C/√P and
 * the rare coordinate beyond it is clipped to ±(2^(bits−1) − 1)·scale before quantising.
 */
export function prepareUpdate(parameters: PrepareUpdateParameters): PrepareUpdateReturnType {
  const { delta, clipNorm, bits, scale } = parameters;
  const norm = l2Norm(delta);
  const bound = quantizedNormBound(clipNorm, scale);
  const rng = parameters.stochastic ? (parameters.rng ?? cryptoUniform()) : parameters.rng;
  // Clipped in the open rather than saturated inside quantize: only shrinks coordinates, so the
  // update stays within C, and quantize keeps refusing values a caller did not mean to clip.
  const range = maxQuantized(bits) * scale;
  let target = clipNorm;
  for (let attempt = 0; attempt < 50; attempt++) {
    const { clipped } = clipL2(delta, target);
    clipToRange(clipped, range);
    const q = quantize(clipped, { bits, scale, stochastic: parameters.stochastic, rng });
    const squaredNormQ = squaredNormQuantized(q);
    if (squaredNormQ <= bound) return { q, bytes: encodeUpdate(q, bits), norm, squaredNormQ };
    if (parameters.stochastic) {
      // Stochastic rounding adds variance Σ f(1 − f) ≤ n/4 to Σ q², which at few bits and
      // many coordinates can exceed the bound itself: the worst-case step below would zero
      // the update. Shrink in proportion to the overshoot instead, and draw fresh rounding.
      const ratio = Math.sqrt(Number(bound) / Number(squaredNormQ));
      target = Math.min(target * 0.99, Math.min(target, l2Norm(clipped)) * ratio * 0.99);
    } else {
      // Shrink by at least the worst-case rounding error √n·scale/2, then keep halving the gap.
      target = Math.max(0, target - Math.max(Math.sqrt(delta.length) * scale * 0.5, target * 1e-3));
    }
  }
  // Unreachable for sane parameters: an all-zero update always fits.
  const q = new Int32Array(delta.length);
  return { q, bytes: encodeUpdate(q, bits), norm, squaredNormQ: 0n };
}

export { maxQuantized };

/** Clips every coordinate to [−range, range], in place. */
function clipToRange(values: Float32Array, range: number): void {
  // float32 storage could round a value just past the range; keep a few ulps inside it.
  const limit = Math.fround(range * (1 - 2 ** -20));
  for (let i = 0; i < values.length; i++) {
    if (values[i] > limit) values[i] = limit;
    else if (values[i] < -limit) values[i] = -limit;
  }
}
