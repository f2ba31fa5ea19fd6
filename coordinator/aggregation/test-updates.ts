import type { ClientUpdate } from "./types.js";

/** Builds ClientUpdates from plain numbers for the strategy tests (weight 1 unless given). */
export function updatesFrom(deltas: number[][], weights?: number[]): ClientUpdate[] {
  return deltas.map((delta, i) => ({
    deviceId: String.fromCharCode(97 + i),
    delta: Float32Array.from(delta),
    weight: weights?.[i] ?? 1,
  }));
}

/** Float32 values as plain numbers, for toEqual/toBeCloseTo comparisons. */
export function values(array: Float32Array): number[] {
  return Array.from(array);
}
