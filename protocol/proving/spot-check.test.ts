import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../common/errors.js";
import { spotCheckSoundnessError, spotChecksFor } from "./spot-check.js";

describe("spotCheckSoundnessError", () => {
  it("is (1 − f)^k per round", () => {
    expect(spotCheckSoundnessError(2, 0.5)).toBe(1 / 4);
    expect(spotCheckSoundnessError(8, 0.5)).toBe(1 / 256);
    expect(spotCheckSoundnessError(16, 0.5)).toBe(1 / 65_536);
    expect(spotCheckSoundnessError(2, 0.1)).toBeCloseTo(0.81, 12);
    expect(spotCheckSoundnessError(8, 0.1)).toBeCloseTo(0.430_467_21, 10);
    expect(spotCheckSoundnessError(16, 0.1)).toBeCloseTo(0.185_302_018_885_184_1, 12);
  });

  it("compounds over the rounds a device must answer: (1 − f)^(k·R)", () => {
    expect(spotCheckSoundnessError(8, 0.5, 10)).toBe(2 ** -80);
    expect(spotCheckSoundnessError(2, 0.1, 10)).toBeCloseTo(0.81 ** 10, 12);
    expect(spotCheckSoundnessError(8, 0.1, 3)).toBeCloseTo(spotCheckSoundnessError(24, 0.1), 12);
  });

  it("is 1 for a clean dataset and 0 for an all-invalid one", () => {
    expect(spotCheckSoundnessError(8, 0)).toBe(1);
    expect(spotCheckSoundnessError(1, 1)).toBe(0);
  });

  it("the default k = 8 is the least k reaching 1/256 at f = 1/2", () => {
    expect(spotChecksFor(1 / 256, 0.5)).toBe(8);
    expect(spotChecksFor(1 / 255, 0.5)).toBe(8);
    expect(spotChecksFor(1 / 257, 0.5)).toBe(9);
    expect(spotChecksFor(0.01, 0.1)).toBe(44);
    expect(spotCheckSoundnessError(44, 0.1)).toBeLessThanOrEqual(0.01);
    expect(spotCheckSoundnessError(43, 0.1)).toBeGreaterThan(0.01);
  });

  it("refuses meaningless arguments", () => {
    expect(() => spotCheckSoundnessError(0, 0.5)).toThrow(InvalidArgumentError);
    expect(() => spotCheckSoundnessError(2.5, 0.5)).toThrow(InvalidArgumentError);
    expect(() => spotCheckSoundnessError(8, 1.5)).toThrow(InvalidArgumentError);
    expect(() => spotCheckSoundnessError(8, Number.NaN)).toThrow(InvalidArgumentError);
    expect(() => spotCheckSoundnessError(8, 0.5, 0)).toThrow(InvalidArgumentError);
    expect(() => spotChecksFor(0, 0.5)).toThrow(InvalidArgumentError);
  });
});
