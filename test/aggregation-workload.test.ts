import { describe, expect, it } from "vitest";
import { applyAttack } from "../client/core/byzantine.js";
import {
  createAggregationWorkload,
  runAggregationRounds,
} from "../coordinator/aggregation/aggregation-workload.js";
import { createStrategy } from "../coordinator/aggregation/create-strategy.js";
import { fedAvg } from "../coordinator/aggregation/fed-avg.js";
import { l2Norm, squaredDistance } from "../coordinator/aggregation/vector-math.js";
import type { StrategySpecInput } from "../protocol/job/strategy-spec.js";
import { createRng } from "../protocol/random.js";

describe("createAggregationWorkload", () => {
  it("is reproducible and produces clipped updates of the requested shape", () => {
    const a = createAggregationWorkload({
      clients: 6,
      dimension: 50,
      rng: createRng(5),
      clipNorm: 2,
    });
    const b = createAggregationWorkload({
      clients: 6,
      dimension: 50,
      rng: createRng(5),
      clipNorm: 2,
    });
    expect(a).toEqual(b);
    expect(a.global).toHaveLength(50);
    expect(a.updates).toHaveLength(6);
    for (const update of a.updates) {
      expect(update.delta).toHaveLength(50);
      expect(l2Norm(update.delta)).toBeLessThanOrEqual(2 * (1 + 1e-6));
      expect(Number.isInteger(update.weight) && update.weight >= 1).toBe(true);
    }
  });

  it("rejects empty shapes", () => {
    expect(() =>
      createAggregationWorkload({ clients: 0, dimension: 5, rng: createRng(1) }),
    ).toThrow(/positive integer/);
  });
});

describe("runAggregationRounds", () => {
  it("carries the state of a stateful strategy through its encoding", () => {
    const workload = createAggregationWorkload({ clients: 4, dimension: 8, rng: createRng(2) });
    const one = runAggregationRounds({ spec: { name: "fedyogi" }, workload, rounds: 1 });
    const three = runAggregationRounds({ spec: { name: "fedyogi" }, workload, rounds: 3 });
    expect(three.state?.vectors.m).toHaveLength(8);
    expect(Array.from(three.model)).not.toEqual(Array.from(one.model));
  });
});

describe("robust rules against attacks that respect the clip bound", () => {
  it("median and Krum stay near the honest mean while FedAvg is dragged away", () => {
    // 10 devices whose honest updates agree up to 20% noise; 3 of them send their update
    // sign-flipped at full length C = 1 instead.
    const workload = createAggregationWorkload({
      clients: 10,
      dimension: 200,
      rng: createRng(11),
      clipNorm: 1,
      spread: 0.2,
    });
    const honestMean = fedAvg(workload.updates.slice(3));
    const attacked = workload.updates.map((update, i) =>
      i < 3
        ? {
            ...update,
            delta: applyAttack(update.delta, "signflip", { clipNorm: 1, rng: createRng(i) }),
          }
        : update,
    );
    const errorOf = (spec: StrategySpecInput) => {
      const { model } = createStrategy(spec).aggregate({
        global: workload.global,
        updates: attacked,
        round: 1,
      });
      const step = model.map((value, j) => value - workload.global[j]);
      return Math.sqrt(squaredDistance(step, honestMean)) / l2Norm(honestMean);
    };
    const fedavg = errorOf({ name: "fedavg" });
    expect(fedavg).toBeGreaterThan(0.5);
    expect(errorOf({ name: "median" })).toBeLessThan(fedavg / 2);
    expect(errorOf({ name: "krum", byzantine: 3 })).toBeLessThan(fedavg / 2);
  });
});
