import { InvalidArgumentError } from "../../common/errors.js";
import type { StrategySpec } from "../job/strategy-spec.js";
import type { ExactAggregate } from "./exact-aggregate.js";
import { isLinearStrategySpec, type LinearStrategySpec } from "./linear-strategies.js";

/**
 * The float32 rule that turns a round's exact aggregate into the next model, written so that any
 * IEEE-754 implementation repeats it bit for bit (README.md in this folder spells it out).
 *
 * f = Math.fround (round to nearest binary32, ties to even) follows every operation, and every
 * operand is a binary32 value, so each step is the correctly rounded binary32 operation: for
 * +, −, ×, ÷ and √ on binary32 inputs, computing in binary64 and rounding once to binary32 gives
 * the same result as binary32 arithmetic (binary64 has ≥ 2·24 + 2 bits), so a Rust or numpy
 * implementation may use f32 arithmetic directly. No pow/exp/log: those are not correctly
 * rounded in every library. The one binary64 step is the mean delta, (S_j / W) · scale, whose
 * inputs are exact doubles (S_j and W are integers below 2^53, scale is the spec's double).
 */

/** A linear strategy's memory between rounds: binary32 vectors by name ("m", "v", "velocity"). */
export type RuleState = Readonly<Record<string, Float32Array>>;

export interface ServerStepParameters {
  strategy: StrategySpec;
  /** The model the round started from (binary32). */
  global: Float32Array;
  /** The round's mean delta Δ (binary32). */
  delta: Float32Array;
  /** The state the previous round returned; absent (or empty) in the first round. */
  state?: RuleState;
}

export interface ServerStepReturnType {
  model: Float32Array;
  /** The state to carry into the next round; absent for FedAvg and FedProx. */
  state?: Record<string, Float32Array>;
}

export interface NextModelParameters {
  strategy: StrategySpec;
  global: Float32Array;
  aggregate: ExactAggregate;
  /** The job's quantisation step: a quantised value q stands for q · scale. */
  scale: number;
  state?: RuleState;
}

const f = Math.fround;

/** Δ_j = f((S_j / W) · scale), in binary64 and then rounded once to binary32. */
export function meanDeltaOf(aggregate: ExactAggregate, scale: number): Float32Array {
  if (!(scale > 0) || !Number.isFinite(scale)) {
    throw new InvalidArgumentError(`quantisation scale must be a positive number, got ${scale}`);
  }
  const { sum, weight } = aggregate;
  if (!Number.isSafeInteger(weight) || weight <= 0) {
    throw new InvalidArgumentError(`aggregate weight must be a positive integer, got ${weight}`);
  }
  const delta = new Float32Array(sum.length);
  for (let j = 0; j < sum.length; j++) delta[j] = (sum[j]! / weight) * scale;
  return delta;
}

/** The whole rule: the next model (and state) from the previous model and the round's aggregate. */
export function nextModel(parameters: NextModelParameters): ServerStepReturnType {
  const { strategy, global, aggregate, scale, state } = parameters;
  if (aggregate.sum.length !== global.length) {
    throw new InvalidArgumentError("the aggregate does not fit the model", {
      details: `${aggregate.sum.length} aggregate values, ${global.length} model parameters`,
    });
  }
  return serverStep({ strategy, global, delta: meanDeltaOf(aggregate, scale), state });
}

/**
 * The strategy's server update from the mean delta Δ, in binary32. The coordinator's float path
 * (robust inputs aside) runs this same step after its own mean, so there is one server update.
 */
export function serverStep(parameters: ServerStepParameters): ServerStepReturnType {
  const { strategy, global, delta, state } = parameters;
  if (!isLinearStrategySpec(strategy)) {
    throw new InvalidArgumentError(`strategy "${strategy.name}" has no exact aggregation rule`, {
      details: "only the weighted-mean strategies can be replayed from their aggregate",
    });
  }
  if (delta.length !== global.length) {
    throw new InvalidArgumentError("the mean delta does not fit the model", {
      details: `${delta.length} values, the model has ${global.length}`,
    });
  }
  const result = step(strategy, global, delta, state);
  const index = result.model.findIndex((value) => !Number.isFinite(value));
  if (index !== -1) {
    throw new InvalidArgumentError(
      `the ${strategy.name} step overflowed float32 at parameter ${index}`,
    );
  }
  return result;
}

function step(
  strategy: LinearStrategySpec,
  x: Float32Array,
  delta: Float32Array,
  state: RuleState | undefined,
): ServerStepReturnType {
  const d = x.length;
  const model = new Float32Array(d);
  switch (strategy.name) {
    case "fedavg":
    case "fedprox":
      // x' = f(x + Δ). FedProx differs only on the devices (the proximal term).
      for (let j = 0; j < d; j++) model[j] = f(x[j]! + delta[j]!);
      return { model };
    case "fedavgm": {
      // v' = f(f(β·v) + Δ);  x' = f(x + f(η·v')).
      const eta = f(strategy.serverLearningRate);
      const beta = f(strategy.momentum);
      const velocity = stateVector(state, "velocity", d, 0);
      for (let j = 0; j < d; j++) {
        velocity[j] = f(f(beta * velocity[j]!) + delta[j]!);
        model[j] = f(x[j]! + f(eta * velocity[j]!));
      }
      return { model, state: { velocity } };
    }
    case "fedadam":
    case "fedyogi":
    case "fedadagrad": {
      // Reddi et al. 2021, Algorithm 2, no bias correction:
      //   m' = f(f(β₁·m) + f((1 − β₁)·Δ))
      //   v' = FedAdam:    f(f(β₂·v) + f((1 − β₂)·f(Δ·Δ)))
      //        FedYogi:    t = f((1 − β₂)·f(Δ·Δ));  v > f(Δ·Δ): f(v − t),  v < f(Δ·Δ): f(v + t),  else v
      //        FedAdagrad: f(v + f(Δ·Δ))
      //   x' = f(x + f(f(η·m') / f(f(√v') + τ)))
      // with m₀ = 0 and v₀ = f(τ·τ), every constant first rounded to binary32 (1 − β as f(1 − f(β))).
      const eta = f(strategy.serverLearningRate);
      const beta1 = f(strategy.beta1);
      const beta2 = f(strategy.beta2);
      const tau = f(strategy.tau);
      const oneMinusBeta1 = f(1 - beta1);
      const oneMinusBeta2 = f(1 - beta2);
      const m = stateVector(state, "m", d, 0);
      const v = stateVector(state, "v", d, f(tau * tau));
      for (let j = 0; j < d; j++) {
        const dj = delta[j]!;
        const squared = f(dj * dj);
        m[j] = f(f(beta1 * m[j]!) + f(oneMinusBeta1 * dj));
        const previous = v[j]!;
        if (strategy.name === "fedadam") {
          v[j] = f(f(beta2 * previous) + f(oneMinusBeta2 * squared));
        } else if (strategy.name === "fedyogi") {
          const t = f(oneMinusBeta2 * squared);
          v[j] =
            previous > squared ? f(previous - t) : previous < squared ? f(previous + t) : previous;
        } else {
          v[j] = f(previous + squared);
        }
        model[j] = f(x[j]! + f(f(eta * m[j]!) / f(f(Math.sqrt(v[j]!)) + tau)));
      }
      return { model, state: { m, v } };
    }
  }
}

/** A copy of state vector `key`, or `initial` everywhere in the first round. */
function stateVector(
  state: RuleState | undefined,
  key: string,
  length: number,
  initial: number,
): Float32Array {
  const stored = state?.[key];
  if (stored === undefined) return new Float32Array(length).fill(initial);
  if (stored.length !== length) {
    throw new InvalidArgumentError(`strategy state "${key}" does not fit this model`, {
      details: `state holds ${stored.length} values, the model has ${length}`,
    });
  }
  return Float32Array.from(stored);
}
