import { InvalidArgumentError } from "../../../common/errors.js";
import { createRng, deriveSeed } from "../../../protocol/random.js";

export interface ChurnOptions {
  /** Fraction of the fleet that drops in each round, in [0, 1). */
  fraction: number;
  /** Drops fall uniformly within this long after the round starts (default 2 s). */
  windowMs?: number;
  /** How long a dropped device stays offline, drawn uniformly (default 1–5 s). */
  offlineMs?: readonly [min: number, max: number];
}

export interface ChurnEvent {
  /** Index of the device in the whole fleet. */
  device: number;
  /** After the round's start. */
  atMs: number;
  offlineMs: number;
}

export interface ChurnPlanParameters {
  churn: ChurnOptions;
  /** Devices in the whole fleet: every shard draws the same plan and acts on its own devices. */
  devices: number;
  seed: number;
  round: number;
}

/**
 * Which devices drop in a round, when, and for how long: exactly round(fraction × devices)
 * of them, drawn without replacement from the fleet's seed and the round number, so every
 * process of a fleet agrees on the plan and a run can be repeated.
 */
export function churnPlan(parameters: ChurnPlanParameters): ChurnEvent[] {
  const { churn, devices } = parameters;
  if (!(churn.fraction >= 0 && churn.fraction < 1)) {
    throw new InvalidArgumentError(`churn must lie in [0, 1), got ${churn.fraction}`);
  }
  const windowMs = churn.windowMs ?? 2_000;
  const [minOffline, maxOffline] = churn.offlineMs ?? [1_000, 5_000];
  if (!(minOffline >= 0 && maxOffline >= minOffline)) {
    throw new InvalidArgumentError(`churn offline range ${minOffline}–${maxOffline} ms is empty`);
  }
  const rng = createRng(deriveSeed(parameters.seed, parameters.round, 0xc4));
  const order = rng.shuffle(Array.from({ length: devices }, (_, i) => i));
  return order.slice(0, Math.round(churn.fraction * devices)).map((device) => ({
    device,
    atMs: rng.next() * windowMs,
    offlineMs: minOffline + rng.next() * (maxOffline - minOffline),
  }));
}
