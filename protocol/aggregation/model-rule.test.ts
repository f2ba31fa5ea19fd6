import { describe, expect, it } from "vitest";
import { type StrategySpec, strategySpecSchema } from "../job/strategy-spec.js";
import { aggregateHashOf, decodeAggregate, encodeAggregate } from "./aggregate-codec.js";
import { addIntegerNoise, sumWeightedUpdates } from "./exact-aggregate.js";
import { meanDeltaOf, nextModel } from "./model-rule.js";

const spec = (input: unknown): StrategySpec => strategySpecSchema.parse(input);

describe("sumWeightedUpdates", () => {
  it("is the exact integer Σ wᵢ·qᵢ and W = Σ wᵢ", () => {
    const aggregate = sumWeightedUpdates(
      [
        { id: "a", q: Int32Array.from([1, -2, 32767]), weight: 3 },
        { id: "b", q: Int32Array.from([-4, 5, 32767]), weight: 2 },
      ],
      3,
    );
    expect(Array.from(aggregate.sum)).toEqual([3 - 8, -6 + 10, 5 * 32767]);
    expect(aggregate.weight).toBe(5);
    expect(aggregate.noised).toBe(false);
  });

  it.each([
    ["a fractional weight", 1.5, /b has a weight that is not an integer/],
    ["a zero weight", 0, /not an integer/],
    ["a NaN weight", Number.NaN, /not an integer/],
  ])("refuses %s", (_, weight, message) => {
    expect(() =>
      sumWeightedUpdates(
        [
          { id: "a", q: Int32Array.from([1]), weight: 1 },
          { id: "b", q: Int32Array.from([1]), weight },
        ],
        1,
      ),
    ).toThrow(message);
  });

  it("refuses a sum that would leave the exact range, naming the coordinate", () => {
    const big = { id: "a", q: Int32Array.from([0, 2 ** 31 - 1]), weight: 2 ** 22 + 1 };
    expect(() => sumWeightedUpdates([big], 2)).toThrow(/exact integer range at coordinate 1/);
  });

  it("refuses updates of another length and an empty round", () => {
    expect(() => sumWeightedUpdates([{ id: "a", q: new Int32Array(2), weight: 1 }], 3)).toThrow(
      /a has the wrong length/,
    );
    expect(() => sumWeightedUpdates([], 3)).toThrow(/empty list/);
  });
});

describe("the aggregate artifact", () => {
  const aggregate = {
    sum: Float64Array.from([0, -1, 2 ** 53 - 1, -(2 ** 40)]),
    weight: 7,
    noised: true,
  };

  it("round-trips, with a fixed byte layout and hash", () => {
    const bytes = encodeAggregate(aggregate);
    expect(bytes.byteLength).toBe(18 + 8 * 4);
    expect(Array.from(bytes.subarray(0, 18))).toEqual([
      0x46, 0x50, 0x41, 0x47, 1, 1, 4, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0,
    ]);
    expect(Array.from(bytes.subarray(18 + 8, 18 + 16))).toEqual([
      255, 255, 255, 255, 255, 255, 255, 255,
    ]);
    const decoded = decodeAggregate(bytes, 4);
    expect(decoded).toEqual(aggregate);
    expect(aggregateHashOf(bytes)).toMatch(/^[0-9a-f]{64}$/);
    expect(aggregateHashOf(encodeAggregate(decoded))).toBe(aggregateHashOf(bytes));
  });

  it("refuses bytes that are not one: header, version, flags, length, weight, range", () => {
    const bytes = encodeAggregate(aggregate);
    const edit = (offset: number, value: number) => {
      const copy = new Uint8Array(bytes);
      copy[offset] = value;
      return copy;
    };
    expect(() => decodeAggregate(bytes.subarray(0, 10))).toThrow(/truncated/);
    expect(() => decodeAggregate(edit(0, 0))).toThrow(/not an aggregate/);
    expect(() => decodeAggregate(edit(4, 2))).toThrow(/unsupported aggregate version 2/);
    expect(() => decodeAggregate(edit(5, 3))).toThrow(/unknown flags/);
    expect(() => decodeAggregate(edit(6, 5))).toThrow(/must have 58 bytes/);
    expect(() => decodeAggregate(edit(10, 0))).toThrow(/weight 0/);
    expect(() => decodeAggregate(edit(18 + 16 + 6, 0x20))).toThrow(/coordinate 2 is outside/);
    expect(() => decodeAggregate(bytes, 5)).toThrow(/has 4 values, the model has 5/);
  });
});

describe("the model rule", () => {
  it("FedAvg: Δ = f((S/W)·scale), x' = f(x + Δ)", () => {
    // S = [10, −3], W = 4, scale = 0.5: Δ = [1.25, −0.375], exact in binary32.
    const { model, state } = nextModel({
      strategy: spec({ name: "fedavg" }),
      global: Float32Array.from([10, 20]),
      aggregate: { sum: Float64Array.from([10, -3]), weight: 4, noised: false },
      scale: 0.5,
    });
    expect(Array.from(model)).toEqual([11.25, 19.625]);
    expect(state).toBeUndefined();
  });

  it("rounds the mean delta once, from binary64", () => {
    // (1 / 3) · 0.1 in binary64, then to binary32.
    const delta = meanDeltaOf({ sum: Float64Array.from([1]), weight: 3, noised: false }, 0.1);
    expect(delta[0]).toBe(Math.fround((1 / 3) * 0.1));
  });

  it("FedAdam's step is the documented sequence of binary32 operations", () => {
    const f = Math.fround;
    const { model, state } = nextModel({
      strategy: spec({
        name: "fedadam",
        serverLearningRate: 0.1,
        beta1: 0.9,
        beta2: 0.99,
        tau: 0.01,
      }),
      global: Float32Array.from([1]),
      aggregate: { sum: Float64Array.from([3]), weight: 1, noised: false },
      scale: 0.1,
    });
    const delta = f(3 * 0.1);
    const m = f(f(f(0.9) * 0) + f(f(1 - f(0.9)) * delta));
    const v0 = f(f(0.01) * f(0.01));
    const v = f(f(f(0.99) * v0) + f(f(1 - f(0.99)) * f(delta * delta)));
    const x = f(1 + f(f(f(0.1) * m) / f(f(Math.sqrt(v)) + f(0.01))));
    expect(state!.m![0]).toBe(m);
    expect(state!.v![0]).toBe(v);
    expect(model[0]).toBe(x);
  });

  it("refuses a robust strategy, an aggregate of another size and state of another size", () => {
    const aggregate = { sum: Float64Array.from([1, 2]), weight: 1, noised: false };
    const global = new Float32Array(2);
    expect(() =>
      nextModel({ strategy: spec({ name: "median" }), global, aggregate, scale: 1 }),
    ).toThrow(/"median" has no exact aggregation rule/);
    expect(() =>
      nextModel({
        strategy: spec({ name: "fedavg" }),
        global: new Float32Array(3),
        aggregate,
        scale: 1,
      }),
    ).toThrow(/does not fit the model/);
    expect(() =>
      nextModel({
        strategy: spec({ name: "fedavgm" }),
        global,
        aggregate,
        scale: 1,
        state: { velocity: new Float32Array(3) },
      }),
    ).toThrow(/"velocity" does not fit this model/);
  });

  it("adds integer noise and switches to the fixed denominator", () => {
    const base = { sum: Float64Array.from([4, -4]), weight: 2, noised: false };
    const noised = addIntegerNoise(base, Float64Array.from([1, -3]), 10);
    expect(noised).toEqual({ sum: Float64Array.from([5, -7]), weight: 10, noised: true });
    expect(() => addIntegerNoise(base, Float64Array.from([0.5, 0]), 10)).toThrow(/not an integer/);
    expect(() => addIntegerNoise(noised, Float64Array.from([0, 0]), 10)).toThrow(/already/);
  });
});
