import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../coordinator/errors.js";
import { parseJobSpec, specHash } from "./job-spec.js";

const schema = { featureShape: [16], min: 0, max: 1, classes: 4 };

describe("parseJobSpec", () => {
  it("fills defaults and derives the quantisation scale from C and bits", () => {
    const spec = parseJobSpec({ schema, clipNorm: 2, quantization: { bits: 8 } });
    expect(spec.model).toBe("mlp");
    expect(spec.minClients).toBe(2);
    expect(spec.quantization.scale).toBeCloseTo(2 / 127);
    expect(spec.strategy.name).toBe("fedavg");
  });

  it("names the offending field", () => {
    expect(() => parseJobSpec({ schema, rounds: 0 })).toThrow(/spec\.rounds/);
    expect(() => parseJobSpec({ schema, clientsPerRound: 2, minClients: 3 })).toThrow(
      /spec\.minClients: must be at most clientsPerRound/,
    );
    expect(() => parseJobSpec({ schema: { ...schema, classes: 1 } })).toThrow(
      /spec\.schema\.classes/,
    );
    expect(() => parseJobSpec({ schema, model: "resnet" })).toThrow(InvalidArgumentError);
  });

  it("refuses a scale that would make clipped values saturate", () => {
    expect(() =>
      parseJobSpec({ schema, clipNorm: 10, quantization: { bits: 8, scale: 0.01 } }),
    ).toThrow(/spec\.quantization\.scale/);
  });

  it("hashes specs canonically", () => {
    const a = parseJobSpec({ schema, rounds: 2, name: "x" });
    const b = parseJobSpec({ name: "x", rounds: 2, schema });
    expect(specHash(a)).toBe(specHash(b));
    expect(specHash(a)).not.toBe(specHash(parseJobSpec({ schema, rounds: 3, name: "x" })));
  });
});
