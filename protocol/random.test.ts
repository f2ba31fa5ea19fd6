import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../common/errors.js";
import { createRng, deriveSeed } from "./random.js";

describe("createRng", () => {
  it("replays the same stream for the same seed and differs across seeds", () => {
    const draw = (seed: number) => {
      const rng = createRng(seed);
      return Array.from({ length: 8 }, () => rng.next());
    };
    expect(draw(42)).toEqual(draw(42));
    expect(draw(42)).not.toEqual(draw(43));
    expect(draw(-1)).not.toEqual(draw(2 ** 32 - 1));
  });

  it("draws uniform values in [0, 1) with the right mean", () => {
    const rng = createRng(1);
    let sum = 0;
    for (let i = 0; i < 20_000; i++) {
      const value = rng.next();
      expect(value).toBeGreaterThanOrEqual(0);
      expect(value).toBeLessThan(1);
      sum += value;
    }
    expect(sum / 20_000).toBeCloseTo(0.5, 1);
  });

  it("draws normal and gamma variates with the right moments", () => {
    const rng = createRng(2);
    const n = 20_000;
    let sum = 0;
    let squares = 0;
    for (let i = 0; i < n; i++) {
      const value = rng.normal();
      sum += value;
      squares += value * value;
    }
    expect(sum / n).toBeCloseTo(0, 1);
    expect(squares / n).toBeCloseTo(1, 1);
    for (const shape of [0.1, 0.5, 1, 3]) {
      let total = 0;
      for (let i = 0; i < n; i++) total += rng.gamma(shape);
      // Gamma(k, 1) has mean k and standard deviation √k; 5 standard errors of slack.
      expect(Math.abs(total / n - shape)).toBeLessThan((5 * Math.sqrt(shape)) / Math.sqrt(n));
    }
  });

  it("draws every integer below the bound and nothing else", () => {
    const rng = createRng(3);
    const counts = new Array(7).fill(0);
    for (let i = 0; i < 7_000; i++) counts[rng.int(7)]++;
    for (const count of counts) expect(count).toBeGreaterThan(800);
    expect(() => rng.int(0)).toThrow(InvalidArgumentError);
  });

  it("shuffles into a permutation", () => {
    const shuffled = createRng(4).shuffle(Array.from({ length: 100 }, (_, i) => i));
    expect(shuffled).not.toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect([...shuffled].sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  it("rejects non-integer seeds and derives distinct salted seeds", () => {
    expect(() => createRng(0.5)).toThrow(InvalidArgumentError);
    expect(deriveSeed(1, 0)).not.toBe(deriveSeed(1, 1));
    expect(deriveSeed(1, 0)).toBe(deriveSeed(1, 0));
  });
});
