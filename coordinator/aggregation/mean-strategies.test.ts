import { describe, expect, it } from "vitest";
import { createRng } from "../../protocol/random.js";
import { createStrategy } from "./create-strategy.js";
import { updatesFrom, values } from "./test-updates.js";

const global = Float32Array.from([10, 20]);

describe("fedavg and fedprox", () => {
  it("fedavg adds the weighted mean delta to the global model", () => {
    // (1·[1, 2] + 3·[3, −2]) / 4 = [2.5, −1] → [12.5, 19]
    const { model, state } = createStrategy({ name: "fedavg" }).aggregate({
      global,
      updates: updatesFrom(
        [
          [1, 2],
          [3, -2],
        ],
        [1, 3],
      ),
      round: 1,
    });
    expect(values(model)).toEqual([12.5, 19]);
    expect(state).toBeUndefined();
  });

  it("fedprox aggregates like fedavg and sends μ to the devices", () => {
    const fedprox = createStrategy({ name: "fedprox", mu: 0.1 });
    const { model } = fedprox.aggregate({
      global,
      updates: updatesFrom(
        [
          [1, 2],
          [3, -2],
        ],
        [1, 3],
      ),
      round: 1,
    });
    expect(values(model)).toEqual([12.5, 19]);
    expect(fedprox.clientConfig(7)).toEqual({ proximalMu: 0.1 });
    expect(createStrategy({ name: "fedavg" }).clientConfig(7)).toEqual({});
  });

  it("rejects updates whose length differs from the global model", () => {
    expect(() =>
      createStrategy({ name: "fedavg" }).aggregate({
        global,
        updates: updatesFrom([[1, 2, 3]]),
        round: 1,
      }),
    ).toThrow(/wrong length/);
  });
});

describe("fedavgm", () => {
  it("keeps a server velocity v ← βv + Δ̄ and moves by η·v", () => {
    // η = 0.5, β = 0.9.
    // Round 1: Δ̄ = [1, −2], v = [1, −2], x = [10, 20] + 0.5·v = [10.5, 19]
    // Round 2: Δ̄ = [0.5, 0.5], v = 0.9·[1, −2] + [0.5, 0.5] = [1.4, −1.3],
    //          x = [10.5, 19] + 0.5·v = [11.2, 18.35]
    const fedavgm = createStrategy({ name: "fedavgm", serverLearningRate: 0.5, momentum: 0.9 });
    const first = fedavgm.aggregate({ global, updates: updatesFrom([[1, -2]]), round: 1 });
    expect(values(first.model)).toEqual([10.5, 19]);
    const second = fedavgm.aggregate({
      global: first.model,
      updates: updatesFrom([[0.5, 0.5]]),
      state: first.state,
      round: 2,
    });
    expect(values(second.state!.vectors.velocity)).toEqual([Math.fround(1.4), Math.fround(-1.3)]);
    expect(second.model[0]).toBeCloseTo(11.2, 5);
    expect(second.model[1]).toBeCloseTo(18.35, 5);
  });
});

describe("mean-based strategies with central DP", () => {
  it("use the clipped, uniformly weighted mean instead of the sample-weighted one", () => {
    // C = 1, z = 0 (noise off, to see the arithmetic): [3, 4] has norm 5 → [0.6, 0.8];
    // [0, 1] fits. Weights are ignored: ([0.6, 0.8] + [0, 1]) / 2 = [0.3, 0.9].
    const { model, privacy } = createStrategy({ name: "fedavg" }).aggregate({
      global,
      updates: updatesFrom(
        [
          [3, 4],
          [0, 1],
        ],
        [1, 100],
      ),
      round: 1,
      privacy: { clipNorm: 1, noiseMultiplier: 0, rng: createRng(1) },
    });
    expect(model[0]).toBeCloseTo(10.3, 5);
    expect(model[1]).toBeCloseTo(20.9, 5);
    expect(privacy).toMatchObject({
      reclipped: 1,
      contributions: 2,
      denominator: 2,
      noiseStddev: 0,
    });
  });

  it("feed the noised mean to the server optimiser", () => {
    const run = (seed: number) =>
      createStrategy({ name: "fedadam" }).aggregate({
        global,
        updates: updatesFrom([
          [0.1, 0.1],
          [0.1, 0.1],
        ]),
        round: 1,
        privacy: { clipNorm: 1, noiseMultiplier: 1, rng: createRng(seed) },
      });
    expect(run(1).privacy?.noiseStddev).toBe(0.5);
    expect(values(run(1).model)).toEqual(values(run(1).model));
    expect(values(run(1).model)).not.toEqual(values(run(2).model));
  });
});
