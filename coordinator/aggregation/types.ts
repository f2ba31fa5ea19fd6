import type { StrategyName } from "../../protocol/job/strategy-spec.js";
import type { CentralPrivacyParameters, GaussianMechanismReport } from "../privacy/types.js";

export type { StrategyName };

/** One verified contribution, as the aggregate worker hands it over. */
export interface ClientUpdate {
  deviceId: string;
  /** Dequantised Δ = w_local − w_global, already clipped to ‖Δ‖ ≤ C by the device. */
  delta: Float32Array;
  /** Sample count the device trained on; the FedAvg weight. */
  weight: number;
}

/**
 * Whatever a strategy must remember from one round to the next (FedAdam's moments,
 * FedAvgM's velocity). Plain vectors and numbers, so that it can be stored as a blob
 * between rounds (see `encodeStrategyState`) and workers stay stateless.
 */
export interface StrategyState {
  vectors: Record<string, Float32Array>;
  scalars: Record<string, number>;
}

export interface AggregateParameters {
  /** The model the round started from, flattened. */
  global: Float32Array;
  updates: ClientUpdate[];
  /** The state the previous round returned; absent in the first round. */
  state?: StrategyState;
  round: number;
  /**
   * Central differential privacy. When present, mean-based strategies replace the
   * sample-weighted mean by the Gaussian mechanism's noised uniform mean (see
   * `gaussianMechanism`); robust rules refuse, as their sensitivity is not bounded by C/n.
   */
  privacy?: CentralPrivacyParameters;
}

export interface AggregateReturnType {
  /** The next global model. */
  model: Float32Array;
  /** State to hand back in the next round's `AggregateParameters.state`. */
  state?: StrategyState;
  /** Device ids whose update went into the model, for rules that select (Krum). */
  selected?: string[];
  /** What the Gaussian mechanism did, when `privacy` was given. */
  privacy?: GaussianMechanismReport;
}

/** What a round tells each sampled device about the objective it trains on. */
export interface ClientConfig {
  /** FedProx: weight of the proximal term (μ/2)‖w − w_global‖² added to the local loss. */
  proximalMu?: number;
}

export interface Strategy {
  readonly name: StrategyName;
  aggregate(parameters: AggregateParameters): AggregateReturnType;
  /** Configure-round hook: what the devices sampled for `round` must be told. */
  clientConfig(round: number): ClientConfig;
}
