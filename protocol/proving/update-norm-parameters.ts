import { InvalidArgumentError } from "../../common/errors.js";

/**
 * Shape of one UpdateNorm chunk circuit: n values of `bits` bits. One circuit per
 * (n, bits) serves every model size; a model of P parameters is ⌈P/n⌉ chunks.
 */
export interface UpdateNormParameters {
  /** Values per chunk. */
  n: number;
  /** Quantisation bits: values satisfy |q| ≤ 2^(bits−1) − 1. */
  bits: number;
}

/** Values packed into one field element: ⌊253/bits⌋, so a packed element stays below 2^253 < p. */
export function valuesPerElement(bits: number): number {
  return Math.floor(253 / bits);
}

/** Packed field elements per chunk: ⌈n / valuesPerElement⌉. */
export function elementsPerChunk(parameters: UpdateNormParameters): number {
  return Math.ceil(parameters.n / valuesPerElement(parameters.bits));
}

/** Chunks needed for `parameterCount` values; at least one, so an empty model still proves. */
export function chunkCount(parameterCount: number, parameters: UpdateNormParameters): number {
  if (!Number.isSafeInteger(parameterCount) || parameterCount < 0) {
    throw new InvalidArgumentError(
      `parameter count must be a non-negative integer, got ${parameterCount}`,
    );
  }
  return Math.max(1, Math.ceil(parameterCount / parameters.n));
}

export function checkUpdateNormParameters(parameters: UpdateNormParameters): void {
  const { n, bits } = parameters;
  if (!Number.isInteger(bits) || bits < 2 || bits > 32) {
    throw new InvalidArgumentError(`UpdateNorm bits must be an integer in [2, 32], got ${bits}`);
  }
  if (!Number.isInteger(n) || n < 1 || n >= 2 ** 30) {
    throw new InvalidArgumentError(
      `UpdateNorm chunk size must be an integer in [1, 2^30), got ${n}`,
    );
  }
}
