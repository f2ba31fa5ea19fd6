import { FedproofError } from "../../common/errors.js";
import { createAggregationWorkload } from "../../coordinator/aggregation/aggregation-workload.js";
import { fedAvg } from "../../coordinator/aggregation/fed-avg.js";
import type { ClientUpdate } from "../../coordinator/aggregation/types.js";
import { createRng } from "../../protocol/random.js";
import {
  decodeUpdate,
  dequantize,
  encodeUpdate,
  maxQuantized,
  quantize,
} from "../../protocol/update/quantize.js";

export interface MeasureFedAvgThroughputParameters {
  /** Updates folded per aggregation. */
  updates: number;
  /** Parameters per update. */
  dimension: number;
  /** Minimum timed duration per measurement; at least `minRepeats` aggregations run. */
  seconds: number;
  minRepeats?: number;
  /** Quantisation of the end-to-end step, as a job would set it. */
  bits?: number;
  clipNorm?: number;
  seed?: number;
}

export interface AggregationTiming {
  repeats: number;
  secondsPerAggregation: number;
  updatesPerSecond: number;
}

export interface MeasureFedAvgThroughputReturnType {
  updates: number;
  dimension: number;
  /** `fedAvg` alone, on float32 deltas already in memory. */
  fedAvg: AggregationTiming;
  /**
   * What the aggregate worker computes per round once the bytes are read: decode the
   * little-endian int16 uploads, dequantise, `fedAvg`, add to the global model.
   */
  endToEnd: AggregationTiming;
}

/**
 * FedAvg throughput on a synthetic round (a shared direction plus per-client noise,
 * clipped norms, sample-count weights). Storage reads are left out: they depend on the
 * disk, not on the aggregation code.
 */
export function measureFedAvgThroughput(
  p: MeasureFedAvgThroughputParameters,
): MeasureFedAvgThroughputReturnType {
  const bits = p.bits ?? 16;
  const clipNorm = p.clipNorm ?? 5;
  const minRepeats = p.minRepeats ?? 3;
  const rng = createRng(p.seed ?? 1);
  const workload = createAggregationWorkload({
    clients: p.updates,
    dimension: p.dimension,
    rng,
    clipNorm,
  });
  const scale = clipNorm / maxQuantized(bits);
  const uploads = workload.updates.map((update) => ({
    deviceId: update.deviceId,
    weight: update.weight,
    bytes: encodeUpdate(quantize(update.delta, { bits, scale }), bits),
  }));

  let sink = 0;
  const fedAvgTiming = timeRepeated(p.seconds, minRepeats, p.updates, () => {
    sink += fedAvg(workload.updates)[0]!;
  });
  const endToEnd = timeRepeated(p.seconds, minRepeats, p.updates, () => {
    const updates: ClientUpdate[] = uploads.map((upload) => ({
      deviceId: upload.deviceId,
      weight: upload.weight,
      delta: dequantize(decodeUpdate(upload.bytes, bits, p.dimension), scale),
    }));
    const mean = fedAvg(updates);
    const model = new Float32Array(p.dimension);
    for (let i = 0; i < p.dimension; i++) model[i] = workload.global[i]! + mean[i]!;
    sink += model[0]!;
  });
  // Keeps the results observable so that no step can be optimised away.
  if (Number.isNaN(sink)) throw new FedproofError("aggregation produced NaN");
  return { updates: p.updates, dimension: p.dimension, fedAvg: fedAvgTiming, endToEnd };
}

function timeRepeated(
  seconds: number,
  minRepeats: number,
  updatesPerRepeat: number,
  work: () => void,
): AggregationTiming {
  work(); // warm-up: JIT and first allocations
  let repeats = 0;
  const started = performance.now();
  while (repeats < minRepeats || performance.now() - started < seconds * 1000) {
    work();
    repeats++;
  }
  const elapsed = (performance.now() - started) / 1000;
  return {
    repeats,
    secondsPerAggregation: elapsed / repeats,
    updatesPerSecond: (repeats * updatesPerRepeat) / elapsed,
  };
}
