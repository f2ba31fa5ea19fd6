import { describe, expect, it } from "vitest";
import { parseJobSpec } from "./job-spec.js";
import { samplingPopulation } from "./sampling-population.js";

const schema = { featureShape: [16], min: 0, max: 1, classes: 4 };

describe("samplingPopulation", () => {
  it("accounts without amplification by default", () => {
    expect(samplingPopulation(parseJobSpec({ schema }))).toEqual({
      q: 1,
      description: "no amplification (q = 1)",
    });
  });

  it("divides every device a round asks by the declared population", () => {
    // ⌈4 · 1.25⌉ = 5 devices asked per round, out of 1000.
    const spec = parseJobSpec({ schema, clientsPerRound: 4, privacy: { population: 1000 } });
    expect(samplingPopulation(spec)).toEqual({
      q: 0.005,
      description: "declared 1000 (q = 0.005)",
    });
  });

  it("does not amplify an attested population it cannot count", () => {
    const spec = parseJobSpec({ schema, privacy: { population: "attested" } });
    expect(samplingPopulation(spec).q).toBe(1);
    expect(samplingPopulation(spec).description).toMatch(/^attested.*q = 1/);
  });

  it("divides by the attested datasets counted as the round started", () => {
    const spec = parseJobSpec({ schema, clientsPerRound: 4, privacy: { population: "attested" } });
    expect(samplingPopulation(spec, 500)).toEqual({
      q: 0.01,
      description: "attested 500 (q = 0.01)",
    });
    // Fewer attested datasets than devices asked: no amplification; none at all: q = 1 too.
    expect(samplingPopulation(spec, 3).q).toBe(1);
    expect(samplingPopulation(spec, 0).q).toBe(1);
  });

  it("treats a spec stored before the field existed as the default", () => {
    const spec = parseJobSpec({ schema });
    const old = { ...spec, privacy: { ...spec.privacy, population: undefined } };
    expect(samplingPopulation(old as unknown as typeof spec).q).toBe(1);
  });
});
