import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../common/errors.js";
import { createRng } from "../../protocol/random.js";
import { applyAttack, parseByzantine } from "./byzantine.js";
import { l2Norm } from "./update/clip.js";

const honest = Float32Array.from([0.3, 0.4]); // norm 0.5

describe("applyAttack", () => {
  it("scale: boosts the honest update until it saturates the bound", () => {
    // 10·[0.3, 0.4] = [3, 4], norm 5 → clipped to C = 1: [0.6, 0.8]
    const attacked = applyAttack(honest, "scale", { clipNorm: 1, rng: createRng(1) });
    expect(attacked[0]).toBeCloseTo(0.6, 6);
    expect(attacked[1]).toBeCloseTo(0.8, 6);
    expect(l2Norm(attacked)).toBeLessThanOrEqual(1);
  });

  it("signflip: points against the honest update at full length", () => {
    const attacked = applyAttack(honest, "signflip", { clipNorm: 1, rng: createRng(1) });
    expect(attacked[0]).toBeCloseTo(-0.6, 6);
    expect(attacked[1]).toBeCloseTo(-0.8, 6);
    expect(l2Norm(attacked)).toBeLessThanOrEqual(1);
  });

  it("stays below the bound when k·‖Δ‖ < C", () => {
    // k = 2: 2·[0.3, 0.4] = [0.6, 0.8], norm 1 < C = 5, so no clipping happens.
    const attacked = applyAttack(honest, "signflip", { clipNorm: 5, factor: 2, rng: createRng(1) });
    expect(attacked[0]).toBeCloseTo(-0.6, 6);
    expect(attacked[1]).toBeCloseTo(-0.8, 6);
  });

  it("noise: a random direction with norm C, within the float32 bound", () => {
    const delta = new Float32Array(1000).fill(0.01);
    const attacked = applyAttack(delta, "noise", { clipNorm: 2, rng: createRng(9) });
    const norm = l2Norm(attacked);
    expect(norm).toBeLessThanOrEqual(2);
    expect(norm).toBeGreaterThan(2 * (1 - 1e-6));
    // Unrelated to the honest update: the cosine with it is near 0 (|cos| ≲ 3/√1000).
    let dot = 0;
    for (let i = 0; i < delta.length; i++) dot += delta[i] * attacked[i];
    expect(Math.abs(dot / (norm * l2Norm(delta)))).toBeLessThan(0.15);
    // Reproducible from the seed.
    expect(applyAttack(delta, "noise", { clipNorm: 2, rng: createRng(9) })).toEqual(attacked);
  });

  it("leaves the honest update untouched", () => {
    const copy = Float32Array.from(honest);
    for (const attack of ["scale", "signflip", "noise"] as const) {
      applyAttack(honest, attack, { clipNorm: 1, rng: createRng(1) });
    }
    expect(honest).toEqual(copy);
  });

  it("rejects a bad clip norm or factor", () => {
    expect(() => applyAttack(honest, "scale", { clipNorm: 0, rng: createRng(1) })).toThrow(
      InvalidArgumentError,
    );
    expect(() =>
      applyAttack(honest, "scale", { clipNorm: 1, factor: -1, rng: createRng(1) }),
    ).toThrow(/factor/);
  });
});

describe("parseByzantine", () => {
  it.each([
    ["2:signflip", { count: 2, attack: "signflip" }],
    ["0:scale", { count: 0, attack: "scale" }],
    [" 13 : noise ", { count: 13, attack: "noise" }],
  ])("parses %j", (text, expected) => {
    expect(parseByzantine(text)).toEqual(expected);
  });

  it.each([
    ["", /invalid byzantine spec/],
    ["2", /invalid byzantine spec/],
    ["signflip", /invalid byzantine spec/],
    ["-1:scale", /invalid byzantine spec/],
    ["1.5:scale", /invalid byzantine spec/],
    ["2:flip", /unknown byzantine attack "flip"/],
    ["99999999999999999999:scale", /too large/],
  ])("rejects %j", (text, message) => {
    expect(() => parseByzantine(text)).toThrow(InvalidArgumentError);
    expect(() => parseByzantine(text)).toThrow(message);
  });

  it("tells the user the expected form", () => {
    expect(() => parseByzantine("2:flip")).toThrow(/COUNT:ATTACK.*scale, signflip, noise/s);
  });
});
