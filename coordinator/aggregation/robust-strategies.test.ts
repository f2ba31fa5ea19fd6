import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../common/errors.js";
import { strategySpecSchema } from "../../protocol/job/strategy-spec.js";
import { createRng } from "../../protocol/random.js";
import { createStrategy } from "./create-strategy.js";
import { NotEnoughUpdatesError } from "./errors.js";
import { krumScores } from "./krum.js";
import { updatesFrom, values } from "./test-updates.js";

const global = Float32Array.from([10, 20]);
const privacy = { clipNorm: 1, noiseMultiplier: 1, rng: createRng(1) };

describe("median", () => {
  const median = createStrategy({ name: "median" });

  it("takes the coordinate-wise median, ignoring an extreme value", () => {
    // columns [1, 2, 3] and [5, 6, 1000] → [2, 6]; the 1000 does not move the result.
    const { model } = median.aggregate({
      global,
      updates: updatesFrom(
        [
          [1, 5],
          [2, 6],
          [3, 1000],
        ],
        [1, 1, 1e6],
      ),
      round: 1,
    });
    expect(values(model)).toEqual([12, 26]);
  });

  it("averages the two middle values for an even count", () => {
    // sorted columns [1, 2, 3, 100] → 2.5 and [−7, 5, 6, 1000] → 5.5
    const { model } = median.aggregate({
      global,
      updates: updatesFrom([
        [1, 5],
        [2, 6],
        [3, 1000],
        [100, -7],
      ]),
      round: 1,
    });
    expect(values(model)).toEqual([12.5, 25.5]);
  });

  it("refuses NaNs, which sorting would silently push aside", () => {
    expect(() =>
      median.aggregate({
        global,
        updates: updatesFrom([
          [1, 1],
          [Number.NaN, 1],
          [1, 1],
        ]),
        round: 1,
      }),
    ).toThrow(/b holds a non-finite value/);
  });
});

describe("trimmed-mean", () => {
  it("drops ⌊βn⌋ values at each end of every coordinate", () => {
    // β = 0.2, n = 5 → trim 1 at each end: [1, 2, 3, 4, 1000] → mean(2, 3, 4) = 3;
    // second column [−500, 0, 1, 2, 3] → mean(0, 1, 2) = 1.
    const { model } = createStrategy({ name: "trimmed-mean", beta: 0.2 }).aggregate({
      global,
      updates: updatesFrom([
        [1, 3],
        [1000, 0],
        [2, -500],
        [4, 1],
        [3, 2],
      ]),
      round: 1,
    });
    expect(values(model)).toEqual([13, 21]);
  });

  it("trims nothing when βn < 1, and is then the plain unweighted mean", () => {
    // β = 0.1, n = 5 → ⌊0.5⌋ = 0: mean(1, 2, 3, 4, 1000) = 202, whatever the weights.
    const { model } = createStrategy({ name: "trimmed-mean", beta: 0.1 }).aggregate({
      global: new Float32Array(1),
      updates: updatesFrom([[1], [2], [3], [4], [1000]], [9, 9, 9, 9, 1]),
      round: 1,
    });
    expect(values(model)).toEqual([202]);
  });
});

describe("krum and multi-krum", () => {
  // Four honest updates around [1, 0] and one outlier; f = 1, so n − f − 2 = 2 neighbours.
  // (Quarters are exact in float32, so equal scores really tie.)
  // Squared distances: a–b = a–c = a–d = 1/16, b–d = c–d = 1/8, b–c = 1/4, e–* ≥ 181.
  // Scores: a = 1/16 + 1/16 = 0.125; b = 1/16 + 1/8 = 0.1875; c = 0.1875; d = 0.1875.
  const cluster = [
    [1, 0],
    [1.25, 0],
    [0.75, 0],
    [1, 0.25],
    [10, 10],
  ];

  it("scores each update by its nearest neighbours", () => {
    const scores = krumScores(
      updatesFrom(cluster).map((u) => u.delta),
      1,
    );
    expect(scores.slice(0, 4)).toEqual([0.125, 0.1875, 0.1875, 0.1875]);
    expect(scores[4]).toBeGreaterThan(300);
  });

  it("Krum picks the honest update at the centre of the cluster", () => {
    const { model, selected } = createStrategy({ name: "krum", byzantine: 1 }).aggregate({
      global,
      updates: updatesFrom(cluster, [1, 1, 1, 1, 1e9]),
      round: 1,
    });
    expect(selected).toEqual(["a"]);
    expect(values(model)).toEqual([11, 20]);
  });

  it("Multi-Krum averages the n − f best by default, uniformly", () => {
    // a, b, c, d: mean([1, 1.25, 0.75, 1], [0, 0, 0, 0.25]) = [1, 0.0625]
    const { model, selected } = createStrategy({ name: "multi-krum", byzantine: 1 }).aggregate({
      global,
      updates: updatesFrom(cluster, [1, 100, 1, 1, 1]),
      round: 1,
    });
    expect(selected).toEqual(["a", "b", "c", "d"]);
    expect(values(model)).toEqual([11, 20.0625]);
  });

  it("Multi-Krum with m = 2 breaks the score tie by order", () => {
    const { model, selected } = createStrategy({
      name: "multi-krum",
      byzantine: 1,
      selected: 2,
    }).aggregate({ global, updates: updatesFrom(cluster), round: 1 });
    // b, c, d tie at 0.1875; b comes first. mean(a, b) = [1.125, 0]
    expect(selected).toEqual(["a", "b"]);
    expect(values(model)).toEqual([11.125, 20]);
  });

  it("needs n ≥ 2f + 3 updates, and m ≤ n − f", () => {
    const four = updatesFrom(cluster.slice(0, 4));
    expect(() =>
      createStrategy({ name: "krum", byzantine: 1 }).aggregate({ global, updates: four, round: 1 }),
    ).toThrow(NotEnoughUpdatesError);
    expect(() =>
      createStrategy({ name: "multi-krum", byzantine: 1, selected: 5 }).aggregate({
        global,
        updates: updatesFrom(cluster),
        round: 1,
      }),
    ).toThrow(/cannot select 5 of 5/);
  });
});

describe("robust rules and central DP", () => {
  it.each(["median", "trimmed-mean", "krum", "multi-krum"] as const)(
    "%s refuses to run with central DP",
    (name) => {
      expect(() =>
        createStrategy(strategySpecSchema.parse({ name })).aggregate({
          global,
          updates: updatesFrom([
            [1, 1],
            [1, 1],
            [1, 1],
            [1, 1],
            [1, 1],
          ]),
          round: 1,
          privacy,
        }),
      ).toThrow(InvalidArgumentError);
    },
  );
});
