import { InvalidArgumentError } from "../../../common/errors.js";

/** Euclidean norm, summed in float64 so that long float32 vectors lose no precision. */
export function l2Norm(v: Float32Array): number {
  return Math.sqrt(squaredL2Norm(v));
}

/** Sum of squares in float64. */
export function squaredL2Norm(v: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i] * v[i];
  return sum;
}

export interface ClipL2ReturnType {
  /** A new array; the input is left untouched. */
  clipped: Float32Array;
  /** Norm of the input. */
  norm: number;
  /** Scale applied to every coordinate (1 when the input was already within the bound). */
  factor: number;
}

/**
 * Scales `delta` so that its L2 norm is at most `clipNorm`. The bound is what the device
 * later proves, so it must hold for the float32 values actually stored, not only in exact
 * arithmetic: if rounding to float32 nudges the norm above the bound, the factor shrinks
 * by a few ulps until it holds.
 */
export function clipL2(delta: Float32Array, clipNorm: number): ClipL2ReturnType {
  if (!(clipNorm > 0) || !Number.isFinite(clipNorm)) {
    throw new InvalidArgumentError(`clip norm must be a positive finite number, got ${clipNorm}`);
  }
  const norm = l2Norm(delta);
  if (!Number.isFinite(norm)) {
    const bad = delta.findIndex((value) => !Number.isFinite(value));
    throw new InvalidArgumentError(
      `cannot clip an update holding a non-finite value (${delta[bad]} at index ${bad})`,
    );
  }
  if (norm <= clipNorm) return { clipped: Float32Array.from(delta), norm, factor: 1 };

  let factor = clipNorm / norm;
  const clipped = new Float32Array(delta.length);
  for (let attempt = 0; ; attempt++) {
    for (let i = 0; i < delta.length; i++) clipped[i] = delta[i] * factor;
    if (l2Norm(clipped) <= clipNorm) return { clipped, norm, factor };
    // float32 rounding is relative (≤ 2^-24 per value), so a relative shrink that grows
    // each time converges within a few steps.
    factor *= 1 - 2 ** (-24 + attempt);
  }
}
