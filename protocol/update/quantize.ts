import { InvalidArgumentError } from "../../common/errors.js";
import type { Rng } from "../random.js";

/**
 * Symmetric fixed point: value ≈ q · scale with |q| ≤ 2^(bits-1) − 1. The range is symmetric
 * (no −2^(bits-1)) so that negation never overflows and the circuit's range check is one
 * comparison on |q|.
 */
export interface QuantizationParameters {
  /** 2..32. */
  bits: number;
  /** Value of one quantisation step; > 0. */
  scale: number;
  /** Round up with probability equal to the fractional part (unbiased); needs `rng`. */
  stochastic?: boolean;
  /** Uniform draws in [0, 1): a seeded `Rng` to replay a run, `cryptoUniform()` on a device. */
  rng?: UniformSource;
}

/** What stochastic rounding draws from. */
export type UniformSource = Pick<Rng, "next">;

/**
 * Uniform draws in [0, 1) from the platform CSPRNG (Web Crypto, in browsers and Node ≥ 19),
 * 53 bits each, fetched in blocks. A device rounds with it: the rounding noise is what makes
 * low-bit updates unbiased, and noise the coordinator could predict from a seed would let it
 * strip that noise from an individual update.
 */
export function cryptoUniform(): UniformSource {
  const block = new Uint32Array(2048);
  let position = block.length;
  return {
    next() {
      if (position + 2 > block.length) {
        globalThis.crypto.getRandomValues(block);
        position = 0;
      }
      const high = block[position++] >>> 5; // 27 bits
      const low = block[position++] >>> 6; // 26 bits
      return (high * 67_108_864 + low) / 9_007_199_254_740_992;
    },
  };
}

/** Largest |q| representable with `bits`: 2^(bits-1) − 1. */
export function maxQuantized(bits: number): number {
  checkBits(bits);
  return 2 ** (bits - 1) - 1;
}

/**
 * The job's default step: scale = C / max(2^(bits−1) − 1, √P) for a model of P parameters.
 *
 * The circuit bounds Σ q² by (C/scale)², and stochastic rounding alone adds up to P/4 to Σ q²
 * (variance f(1 − f) ≤ ¼ per coordinate). With scale = C/(2^(bits−1) − 1), the rule that lets
 * one coordinate carry all of C, the bound at 4 bits is 7² = 49: an honest device had to
 * shrink a 199,210-parameter update until at most 49 coordinates were ±1, keeping about 2% of
 * its signal (8 bits: about a third). With C/scale ≥ √P the rounding noise takes at most a
 * quarter of the budget. The per-coordinate range ±(2^(bits−1) − 1)·scale still follows the
 * clip bound, C · min(1, (2^(bits−1) − 1)/√P): seven times the mean coordinate of a full-norm
 * update at 4 bits, so only outliers are clipped to it (prepareUpdate does so explicitly).
 * At 16 bits √P < 32,767 for any model below 10⁹ parameters, so the step is C/32,767 as before.
 */
export function defaultQuantizationScale(parameters: {
  clipNorm: number;
  bits: number;
  parameterCount: number;
}): number {
  const { clipNorm, bits, parameterCount } = parameters;
  return clipNorm / Math.max(maxQuantized(bits), Math.sqrt(Math.max(1, parameterCount)));
}

/** Bytes one quantised value takes on the wire: 1, 2 or 4. */
export function bytesPerValue(bits: number): number {
  checkBits(bits);
  return bits <= 8 ? 1 : bits <= 16 ? 2 : 4;
}

/**
 * Quantises to fixed point. A value outside the representable range is an error rather
 * than silently saturated: saturation would change the update behind the clip bound's back,
 * and the caller should choose a larger scale or more bits instead.
 */
export function quantize(values: Float32Array, p: QuantizationParameters): Int32Array {
  const max = maxQuantized(p.bits);
  if (!(p.scale > 0) || !Number.isFinite(p.scale)) {
    throw new InvalidArgumentError(`quantisation scale must be a positive number, got ${p.scale}`);
  }
  const rng = p.rng;
  if (p.stochastic && !rng) {
    throw new InvalidArgumentError("stochastic quantisation needs an rng");
  }
  const q = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const scaled = values[i] / p.scale;
    // Written so that NaN fails too. |scaled| ≤ max also keeps the rounded value in range.
    if (!(Math.abs(scaled) <= max)) {
      throw new InvalidArgumentError(
        `value ${values[i]} at index ${i} does not fit ${p.bits}-bit fixed point with scale ${p.scale} (|x|/scale = ${Math.abs(scaled)} > ${max})`,
        { details: "use a larger scale or more bits" },
      );
    }
    if (p.stochastic && rng) {
      const floor = Math.floor(scaled);
      q[i] = floor + (rng.next() < scaled - floor ? 1 : 0);
    } else {
      // Round half away from zero, so that quantize(-x) = -quantize(x).
      q[i] = Math.sign(scaled) * Math.round(Math.abs(scaled));
    }
  }
  return q;
}

/** value = q · scale. */
export function dequantize(q: Int32Array, scale: number): Float32Array {
  if (!(scale > 0) || !Number.isFinite(scale)) {
    throw new InvalidArgumentError(`quantisation scale must be a positive number, got ${scale}`);
  }
  const values = new Float32Array(q.length);
  for (let i = 0; i < q.length; i++) values[i] = q[i] * scale;
  return values;
}

/**
 * Σ q², exactly. The circuit proves Σ q² ≤ Cq²; rounding can lift the quantised norm a
 * little above the float clip bound, so a device checks this before proving.
 */
export function squaredNormQuantized(q: Int32Array): bigint {
  let total = 0n;
  let partial = 0;
  for (let i = 0; i < q.length; i++) {
    const square = q[i] * q[i];
    // Flush before the float sum could lose integer precision (2^53).
    if (partial + square > Number.MAX_SAFE_INTEGER) {
      total += BigInt(partial);
      partial = 0;
    }
    if (square > Number.MAX_SAFE_INTEGER) total += BigInt(q[i]) * BigInt(q[i]);
    else partial += square;
  }
  return total + BigInt(partial);
}

/** Little-endian signed integers of 1, 2 or 4 bytes each (see bytesPerValue). */
export function encodeUpdate(q: Int32Array, bits: number): Uint8Array {
  const width = bytesPerValue(bits);
  const max = maxQuantized(bits);
  const bytes = new Uint8Array(q.length * width);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < q.length; i++) {
    const value = q[i];
    if (value > max || value < -max) {
      throw new InvalidArgumentError(
        `quantised value ${value} at index ${i} is outside ±${max} for ${bits} bits`,
      );
    }
    if (width === 1) view.setInt8(i, value);
    else if (width === 2) view.setInt16(i * 2, value, true);
    else view.setInt32(i * 4, value, true);
  }
  return bytes;
}

/**
 * Inverse of encodeUpdate. Bytes come from the network, so both the length and every value
 * are checked: a value outside ±(2^(bits-1) − 1) could not have come from `quantize`.
 */
export function decodeUpdate(bytes: Uint8Array, bits: number, expectedLength: number): Int32Array {
  const width = bytesPerValue(bits);
  const max = maxQuantized(bits);
  if (!Number.isInteger(expectedLength) || expectedLength < 0) {
    throw new InvalidArgumentError(
      `expected update length must be a non-negative integer, got ${expectedLength}`,
    );
  }
  const expectedBytes = expectedLength * width;
  if (bytes.byteLength !== expectedBytes) {
    throw new InvalidArgumentError(
      `update has ${bytes.byteLength} bytes, expected ${expectedBytes} (${expectedLength} values × ${width} bytes for ${bits} bits)`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const q = new Int32Array(expectedLength);
  for (let i = 0; i < expectedLength; i++) {
    const value =
      width === 1
        ? view.getInt8(i)
        : width === 2
          ? view.getInt16(i * 2, true)
          : view.getInt32(i * 4, true);
    if (value > max || value < -max) {
      throw new InvalidArgumentError(
        `update value ${value} at index ${i} is outside ±${max} for ${bits} bits`,
      );
    }
    q[i] = value;
  }
  return q;
}

function checkBits(bits: number): void {
  if (!Number.isInteger(bits) || bits < 2 || bits > 32) {
    throw new InvalidArgumentError(`quantisation bits must be an integer in [2, 32], got ${bits}`);
  }
}

/**
 * The bound Σ q² ≤ ⌊(C/scale)²⌋ in quantised units: what the verifier (and the norm
 * circuit) checks. Both sides compute it here so they can never disagree.
 */
export function quantizedNormBound(clipNorm: number, scale: number): bigint {
  const ratio = clipNorm / scale;
  return BigInt(Math.floor(ratio * ratio));
}
