import { InvalidArgumentError } from "../../common/errors.js";
import type { StrategySpecInput } from "../../protocol/job/strategy-spec.js";
import type { Rng } from "../privacy/types.js";
import { createStrategy } from "./create-strategy.js";
import { decodeStrategyState, encodeStrategyState } from "./strategy-state-codec.js";
import type { AggregateParameters, AggregateReturnType, ClientUpdate } from "./types.js";

/**
 * Synthetic inputs and a round loop for the aggregation benchmarks (benchmarks/ owns the
 * timing and the report; this file only builds work that is representative and
 * reproducible from a seed).
 */
export interface CreateAggregationWorkloadParameters {
  /** Number of client updates per round. */
  clients: number;
  /** Model size (number of parameters). */
  dimension: number;
  rng: Rng;
  /** Every delta is drawn, then scaled to a norm in [C/2, C], as clipped updates are. */
  clipNorm?: number;
  /** Per-client deviation from the shared direction, relative to it (1 = as large). */
  spread?: number;
}

export interface AggregationWorkload {
  global: Float32Array;
  updates: ClientUpdate[];
}

export function createAggregationWorkload({
  clients,
  dimension,
  rng,
  clipNorm = 1,
  spread = 1,
}: CreateAggregationWorkloadParameters): AggregationWorkload {
  if (!Number.isInteger(clients) || clients < 1 || !Number.isInteger(dimension) || dimension < 1) {
    throw new InvalidArgumentError(
      "a workload needs a positive integer client count and dimension",
      {
        details: `clients = ${clients}, dimension = ${dimension}`,
      },
    );
  }
  const global = Float32Array.from({ length: dimension }, () => 0.1 * rng.normal());
  // A shared direction plus per-client noise, so that robust rules see a real honest cluster.
  const common = Float64Array.from({ length: dimension }, () => rng.normal());
  const updates = Array.from({ length: clients }, (_, i): ClientUpdate => {
    const raw = Float64Array.from(common, (value) => value + spread * rng.normal());
    let norm = 0;
    for (const value of raw) norm += value * value;
    const scale = (clipNorm * (0.5 + 0.5 * rng.next())) / Math.sqrt(norm);
    return {
      deviceId: `device-${i}`,
      delta: Float32Array.from(raw, (value) => value * scale),
      weight: 1 + Math.floor(rng.next() * 1000),
    };
  });
  return { global, updates };
}

export interface RunAggregationRoundsParameters {
  spec: StrategySpecInput;
  workload: AggregationWorkload;
  rounds: number;
  privacy?: AggregateParameters["privacy"];
}

/**
 * Runs `rounds` aggregations the way the aggregate worker does, including the trip of the
 * strategy state through its binary encoding between rounds; returns the last result.
 */
export function runAggregationRounds({
  spec,
  workload,
  rounds,
  privacy,
}: RunAggregationRoundsParameters): AggregateReturnType {
  if (!Number.isInteger(rounds) || rounds < 1) {
    throw new InvalidArgumentError(`rounds must be a positive integer, got ${rounds}`);
  }
  const strategy = createStrategy(spec);
  let global = workload.global;
  let stored: Uint8Array | undefined;
  let result: AggregateReturnType | undefined;
  for (let round = 1; round <= rounds; round++) {
    result = strategy.aggregate({
      global,
      updates: workload.updates,
      state: stored === undefined ? undefined : decodeStrategyState(stored),
      round,
      privacy,
    });
    global = result.model;
    stored = result.state === undefined ? undefined : encodeStrategyState(result.state);
  }
  return result!;
}
