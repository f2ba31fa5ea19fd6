import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../common/errors.js";
import { STRATEGY_NAMES, strategySpecSchema } from "../../protocol/job/strategy-spec.js";
import { createStrategy } from "./create-strategy.js";

describe("strategy spec", () => {
  it("fills in documented defaults", () => {
    expect(strategySpecSchema.parse({ name: "fedadam" })).toEqual({
      name: "fedadam",
      serverLearningRate: 0.01,
      beta1: 0.9,
      beta2: 0.99,
      tau: 0.001,
    });
    expect(strategySpecSchema.parse({ name: "fedprox" })).toEqual({ name: "fedprox", mu: 0.01 });
    expect(strategySpecSchema.parse({ name: "fedavgm" })).toEqual({
      name: "fedavgm",
      serverLearningRate: 1,
      momentum: 0.9,
    });
    expect(strategySpecSchema.parse({ name: "trimmed-mean" })).toEqual({
      name: "trimmed-mean",
      beta: 0.1,
    });
    expect(strategySpecSchema.parse({ name: "multi-krum" })).toEqual({
      name: "multi-krum",
      byzantine: 1,
    });
  });

  it.each([
    [{ name: "fedsgd" }],
    [{ name: "fedprox", mu: -1 }],
    [{ name: "fedadam", beta1: 1 }],
    [{ name: "fedyogi", tau: 0 }],
    [{ name: "fedadagrad", serverLearningRate: Number.POSITIVE_INFINITY }],
    [{ name: "fedavgm", momentum: -0.1 }],
    [{ name: "trimmed-mean", beta: 0.5 }],
    [{ name: "krum", byzantine: 1.5 }],
    [{ name: "multi-krum", selected: 0 }],
    [{ name: "median", beta: 0.1 }],
  ])("rejects %j", (spec) => {
    expect(strategySpecSchema.safeParse(spec).success).toBe(false);
    expect(() => createStrategy(spec as never)).toThrow(InvalidArgumentError);
  });

  it("names the offending field in the error", () => {
    expect(() => createStrategy({ name: "trimmed-mean", beta: 0.7 })).toThrow(/beta/);
  });

  it("creates a strategy for every name, and each reports its name", () => {
    expect(STRATEGY_NAMES).toHaveLength(10);
    for (const name of STRATEGY_NAMES) {
      expect(createStrategy(strategySpecSchema.parse({ name })).name).toBe(name);
    }
  });
});
