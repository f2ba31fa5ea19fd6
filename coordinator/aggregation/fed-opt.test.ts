import { describe, expect, it } from "vitest";
import { createStrategy } from "./create-strategy.js";
import { decodeStrategyState, encodeStrategyState } from "./strategy-state-codec.js";
import { updatesFrom, values } from "./test-updates.js";

/**
 * Two rounds of Reddi et al. 2021 Algorithm 2 with η = 0.1, β₁ = 0.9, β₂ = 0.99, τ = 0.01,
 * x₀ = [1, −1], m₋₁ = 0, v₋₁ = τ² = 10⁻⁴, and the state carried through its blob encoding.
 *
 * Round 1: mean of [0.2, −0.1] and [0.4, −0.3] → Δ₁ = [0.3, −0.2]
 *   m₁ = 0.1·Δ₁ = [0.03, −0.02]                                   (all three)
 * Round 2: a single update Δ₂ = [−0.01, 0.2]
 *   m₂ = 0.9·m₁ + 0.1·Δ₂ = [0.027 − 0.001, −0.018 + 0.02] = [0.026, 0.002]
 *
 * FedAdam    v₁ = 0.99·10⁻⁴ + 0.01·[0.09, 0.04] = [0.000999, 0.000499]
 *            x₁ = x₀ + 0.1·m₁/(√v₁ + 0.01): 1 + 0.003/(0.0316070 + 0.01) = 1.0721033
 *            v₂ = 0.99·v₁ + 0.01·[10⁻⁴, 0.04] = [0.00099001, 0.00089401]
 * FedYogi    v₁ = 10⁻⁴ − 0.01·Δ₁²·sign(10⁻⁴ − Δ₁²) = 10⁻⁴ + [0.0009, 0.0004] = [0.001, 0.0005]
 *            v₂: coordinate 0 has v₁ = 0.001 > Δ₂² = 10⁻⁴, so v shrinks: 0.001 − 10⁻⁶ = 0.000999;
 *                coordinate 1 has v₁ < 0.04, so it grows: 0.0005 + 0.0004 = 0.0009
 * FedAdagrad v₁ = 10⁻⁴ + Δ₁² = [0.0901, 0.0401],  v₂ = v₁ + Δ₂² = [0.0902, 0.0801]
 * The model values below follow from x_{t+1} = x_t + 0.1·m_t/(√v_t + 0.01).
 */
const expected = {
  fedadam: {
    v1: [0.000999, 0.000499],
    x1: [1.07210332, -1.06184615],
    v2: [0.00099001, 0.00089401],
    x2: [1.13480767, -1.05683362],
  },
  fedyogi: {
    v1: [0.001, 0.0005],
    x1: [1.07207592, -1.0618034],
    v2: [0.000999, 0.0009],
    x2: [1.13456547, -1.0568034],
  },
  fedadagrad: {
    v1: [0.0901, 0.0401],
    x1: [1.00967222, -1.00951249],
    v2: [0.0902, 0.0801],
    x2: [1.01805031, -1.00882994],
  },
} as const;

/** Relative comparison: float32 keeps ~7 significant digits whatever the magnitude. */
const closeTo = (actual: Float32Array, wanted: readonly number[]): void => {
  expect(actual).toHaveLength(wanted.length);
  values(actual).forEach((value, j) => {
    expect(Math.abs(value - wanted[j])).toBeLessThanOrEqual(1e-6 * Math.abs(wanted[j]));
  });
};

describe.each(Object.keys(expected) as (keyof typeof expected)[])("%s", (name) => {
  const strategy = createStrategy({
    name,
    serverLearningRate: 0.1,
    beta1: 0.9,
    beta2: 0.99,
    tau: 0.01,
  });
  const want = expected[name];

  it("matches Algorithm 2 over two rounds with the state carried between them", () => {
    const first = strategy.aggregate({
      global: Float32Array.from([1, -1]),
      updates: updatesFrom([
        [0.2, -0.1],
        [0.4, -0.3],
      ]),
      round: 1,
    });
    closeTo(first.model, want.x1);
    closeTo(first.state!.vectors.m, [0.03, -0.02]);
    closeTo(first.state!.vectors.v, want.v1);

    const second = strategy.aggregate({
      global: first.model,
      updates: updatesFrom([[-0.01, 0.2]]),
      state: decodeStrategyState(encodeStrategyState(first.state!)),
      round: 2,
    });
    closeTo(second.state!.vectors.m, [0.026, 0.002]);
    closeTo(second.state!.vectors.v, want.v2);
    closeTo(second.model, want.x2);
  });

  it("rejects state that belongs to a model of another size", () => {
    const state = { vectors: { m: new Float32Array(3), v: new Float32Array(3) }, scalars: {} };
    expect(() =>
      strategy.aggregate({
        global: new Float32Array(2),
        updates: updatesFrom([[1, 1]]),
        state,
        round: 2,
      }),
    ).toThrow(/does not fit this model/);
  });
});
