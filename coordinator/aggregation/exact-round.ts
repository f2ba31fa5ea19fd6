import { aggregateHashOf, encodeAggregate } from "../../protocol/aggregation/aggregate-codec.js";
import {
  type ExactAggregate,
  sumWeightedUpdates,
  type WeightedUpdate,
} from "../../protocol/aggregation/exact-aggregate.js";
import type { LinearStrategySpec } from "../../protocol/aggregation/linear-strategies.js";
import { nextModel } from "../../protocol/aggregation/model-rule.js";
import { integerGaussianMechanism } from "../privacy/integer-gaussian-mechanism.js";
import type { CentralPrivacyParameters, GaussianMechanismReport } from "../privacy/types.js";
import type { StrategyState } from "./types.js";

export interface AggregateExactlyParameters {
  strategy: LinearStrategySpec;
  /** The model the round started from. */
  global: Float32Array;
  /** The round's verified updates as uploaded, with their integer weights. */
  updates: readonly WeightedUpdate[];
  /** The job's quantisation step. */
  scale: number;
  /** The state the previous round returned; absent in the first round. */
  state?: StrategyState;
  /** Central DP: uniform weights, integer noise, the fixed denominator. */
  privacy?: CentralPrivacyParameters;
  /** With `privacy` in a job with proofs: the spec's bound on Σ N² (noise-bound.ts). */
  noiseBound?: bigint;
}

export interface AggregateExactlyReturnType {
  model: Float32Array;
  state?: StrategyState;
  aggregate: ExactAggregate;
  /** encodeAggregate(aggregate), and its sha256 (hex): the round's aggregateHash. */
  artifact: Uint8Array;
  aggregateHash: string;
  privacy?: GaussianMechanismReport;
  /** The DP noise N and Σ N_j², when `privacy` was given. */
  noise?: Float64Array;
  noiseSquaredNorm?: bigint;
}

/**
 * A linear strategy's round on the exact aggregate (protocol/aggregation): S = Σ wᵢ·qᵢ (or the
 * noised S'), then the binary32 model rule. What this returns is what `fedproof verify` replays
 * from the bundle's aggregate, bit for bit.
 */
export function aggregateExactly(
  parameters: AggregateExactlyParameters,
): AggregateExactlyReturnType {
  const { strategy, global, updates, scale, privacy } = parameters;
  let aggregate: ExactAggregate;
  let report: GaussianMechanismReport | undefined;
  let noiseSquaredNorm: bigint | undefined;
  let noise: Float64Array | undefined;
  if (privacy) {
    const noised = integerGaussianMechanism({
      ...privacy,
      updates,
      length: global.length,
      scale,
      ...(parameters.noiseBound === undefined ? {} : { noiseBound: parameters.noiseBound }),
    });
    aggregate = noised.aggregate;
    report = noised.report;
    noise = noised.noise;
    noiseSquaredNorm = noised.noiseSquaredNorm;
  } else {
    aggregate = sumWeightedUpdates(updates, global.length);
  }
  const next = nextModel({
    strategy,
    global,
    aggregate,
    scale,
    state: parameters.state?.vectors,
  });
  const artifact = encodeAggregate(aggregate);
  return {
    model: next.model,
    ...(next.state ? { state: { vectors: next.state, scalars: {} } } : {}),
    aggregate,
    artifact,
    aggregateHash: aggregateHashOf(artifact),
    ...(report ? { privacy: report } : {}),
    ...(noise && noiseSquaredNorm !== undefined ? { noise, noiseSquaredNorm } : {}),
  };
}
