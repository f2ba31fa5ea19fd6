import { describe, expect, it } from "vitest";
import { aggregateHashOf, decodeAggregate } from "../../protocol/aggregation/aggregate-codec.js";
import {
  LINEAR_STRATEGIES,
  type LinearStrategySpec,
} from "../../protocol/aggregation/linear-strategies.js";
import { strategySpecSchema } from "../../protocol/job/strategy-spec.js";
import { encodeModel } from "../../protocol/model/weights.js";
import { createRng } from "../../protocol/random.js";
import { aggregateExactly } from "./exact-round.js";
import { decodeStrategyState, encodeStrategyState } from "./strategy-state-codec.js";
import type { StrategyState } from "./types.js";

/**
 * The coordinator's exact path against an independent re-derivation written from
 * protocol/aggregation/README.md alone: S summed in BigInt, every binary32 step written out with
 * a one-element Float32Array as the rounding (not Math.fround, not the protocol code).
 */
const F = new Float32Array(1);
const r32 = (x: number): number => {
  F[0] = x;
  return F[0]!;
};

interface Reference {
  x: number[];
  m: number[];
  v: number[];
  velocity: number[];
}

function referenceRound(
  spec: LinearStrategySpec,
  ref: Reference,
  qs: Int32Array[],
  weights: number[],
  scale: number,
): void {
  const d = ref.x.length;
  let W = 0n;
  for (const w of weights) W += BigInt(w);
  for (let j = 0; j < d; j++) {
    let S = 0n;
    for (let i = 0; i < qs.length; i++) S += BigInt(weights[i]!) * BigInt(qs[i]![j]!);
    const delta = r32((Number(S) / Number(W)) * scale);
    const x = ref.x[j]!;
    switch (spec.name) {
      case "fedavg":
      case "fedprox":
        ref.x[j] = r32(x + delta);
        break;
      case "fedavgm": {
        const vel = r32(r32(r32(spec.momentum) * ref.velocity[j]!) + delta);
        ref.velocity[j] = vel;
        ref.x[j] = r32(x + r32(r32(spec.serverLearningRate) * vel));
        break;
      }
      default: {
        const b1 = r32(spec.beta1);
        const b2 = r32(spec.beta2);
        const tau = r32(spec.tau);
        const s = r32(delta * delta);
        const m = r32(r32(b1 * ref.m[j]!) + r32(r32(1 - b1) * delta));
        const v0 = ref.v[j]!;
        let v: number;
        if (spec.name === "fedadam") v = r32(r32(b2 * v0) + r32(r32(1 - b2) * s));
        else if (spec.name === "fedyogi") {
          const t = r32(r32(1 - b2) * s);
          v = v0 > s ? r32(v0 - t) : v0 < s ? r32(v0 + t) : v0;
        } else v = r32(v0 + s);
        ref.m[j] = m;
        ref.v[j] = v;
        ref.x[j] = r32(
          x + r32(r32(r32(spec.serverLearningRate) * m) / r32(r32(Math.sqrt(v)) + tau)),
        );
      }
    }
  }
}

const D = 257;
const SCALE = 1 / 32767;

describe.each(LINEAR_STRATEGIES)("%s on the exact aggregate", (name) => {
  const spec = strategySpecSchema.parse({ name }) as LinearStrategySpec;

  it("is bit-identical to an independent re-derivation over 4 rounds, state through its blob", () => {
    const rng = createRng(42);
    const global0 = Float32Array.from({ length: D }, () => 0.1 * rng.normal());
    const tau = r32((spec as { tau?: number }).tau ?? 0);
    const ref: Reference = {
      x: Array.from(global0),
      m: new Array(D).fill(0),
      v: new Array(D).fill(r32(tau * tau)),
      velocity: new Array(D).fill(0),
    };
    let global: Float32Array = global0;
    let stored: Uint8Array | undefined;
    for (let round = 1; round <= 4; round++) {
      const qs = Array.from({ length: 3 + round }, () =>
        Int32Array.from({ length: D }, () => Math.round(2000 * rng.normal())),
      );
      const weights = qs.map((_, i) => 10 + 7 * i + round);
      const state: StrategyState | undefined = stored ? decodeStrategyState(stored) : undefined;
      const result = aggregateExactly({
        strategy: spec,
        global,
        updates: qs.map((q, i) => ({ id: `d${i}`, q, weight: weights[i]! })),
        scale: SCALE,
        state,
      });
      referenceRound(spec, ref, qs, weights, SCALE);
      expect(Buffer.from(encodeModel(result.model))).toEqual(
        Buffer.from(encodeModel(Float32Array.from(ref.x))),
      );
      if (name === "fedavgm")
        expect(Array.from(result.state!.vectors.velocity!)).toEqual(ref.velocity);
      if (name.startsWith("fedad") || name === "fedyogi") {
        expect(Array.from(result.state!.vectors.m!)).toEqual(ref.m);
        expect(Array.from(result.state!.vectors.v!)).toEqual(ref.v);
      }
      // The artifact is S and W, and is named by its hash.
      const decoded = decodeAggregate(result.artifact, D);
      expect(decoded.weight).toBe(weights.reduce((a, b) => a + b, 0));
      expect(decoded.noised).toBe(false);
      expect(result.aggregateHash).toBe(aggregateHashOf(result.artifact));
      global = result.model;
      stored = result.state ? encodeStrategyState(result.state) : undefined;
    }
  });
});

describe("central DP on the exact aggregate", () => {
  const spec = strategySpecSchema.parse({ name: "fedavg" }) as LinearStrategySpec;
  const clipNorm = 1;
  const q = (value: number) =>
    Int32Array.from({ length: 4096 }, (_, j) => (j % 2 ? value : -value));

  it("adds integer noise of standard deviation z·C/scale to Σ qᵢ and divides by the fixed denominator", () => {
    const z = 0.5;
    const updates = [
      { id: "a", q: q(3), weight: 1000 },
      { id: "b", q: q(1), weight: 1 },
    ];
    const result = aggregateExactly({
      strategy: spec,
      global: new Float32Array(4096),
      updates,
      scale: SCALE,
      privacy: { clipNorm, noiseMultiplier: z, rng: createRng(7), denominator: 10 },
    });
    const { aggregate } = result;
    expect(aggregate.noised).toBe(true);
    expect(aggregate.weight).toBe(10);
    // Weights are ignored (uniform), as in the float mechanism; N = S' − Σ qᵢ is integer.
    let squared = 0n;
    let sumSq = 0;
    for (let j = 0; j < 4096; j++) {
      const n = aggregate.sum[j]! - (j % 2 ? 4 : -4);
      expect(Number.isInteger(n)).toBe(true);
      squared += BigInt(n * n);
      sumSq += n * n;
    }
    expect(result.noiseSquaredNorm).toBe(squared);
    const stddev = Math.sqrt(sumSq / 4096);
    expect(stddev / ((z * clipNorm) / SCALE)).toBeGreaterThan(0.95);
    expect(stddev / ((z * clipNorm) / SCALE)).toBeLessThan(1.05);
    // The same report (hence the same accounting) as the float mechanism.
    expect(result.privacy).toEqual({
      clipNorm,
      noiseMultiplier: z,
      noiseStddev: (z * clipNorm) / 10,
      denominator: 10,
      contributions: 2,
      reclipped: 0,
    });
    expect(decodeAggregate(result.artifact).noised).toBe(true);
  });

  it("refuses an update above the clip bound instead of rescaling it", () => {
    expect(() =>
      aggregateExactly({
        strategy: spec,
        global: new Float32Array(4),
        updates: [{ id: "big", q: Int32Array.from([40000, 0, 0, 0]), weight: 1 }],
        scale: SCALE,
        privacy: { clipNorm, noiseMultiplier: 1, rng: createRng(1), denominator: 2 },
      }),
    ).toThrow(/update from big exceeds the clip bound/);
  });
});
