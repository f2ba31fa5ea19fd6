import { describe, expect, it } from "vitest";
import { productionChunkSize } from "../../circuits/circuit-catalog.js";
import { parseJobSpec } from "../../protocol/job/job-spec.js";
import { chunkCircuitFor, featureScaleFor, productionCircuitPlan } from "./job-circuits.js";

describe("chunkCircuitFor", () => {
  it("proves a small model in one chunk that fills whole sponge blocks", () => {
    // 15 values per field element at 16 bits; 15·(16k − 3) values plus the salt and the two
    // KZG blinding values fill k blocks.
    expect(chunkCircuitFor(16, 68)).toEqual({ kind: "update-norm", n: 195, bits: 16 });
    expect(chunkCircuitFor(16, 196)).toEqual({ kind: "update-norm", n: 435, bits: 16 });
    expect(chunkCircuitFor(8, 68)).toEqual({ kind: "update-norm", n: 403, bits: 8 });
  });

  it("uses the production chunk for every model that does not fit a smaller one", () => {
    expect(chunkCircuitFor(16, 44_404).n).toBe(productionChunkSize(16));
    expect(chunkCircuitFor(16, productionChunkSize(16)).n).toBe(productionChunkSize(16));
    expect(chunkCircuitFor(8, 1_663_370).n).toBe(productionChunkSize(8));
  });
});

describe("featureScaleFor", () => {
  it("maps the schema range onto the circuit's feature bits", () => {
    expect(featureScaleFor({ featureShape: [4], min: 0, max: 1, classes: 2 }, 8)).toBe(255);
    expect(featureScaleFor({ featureShape: [4], min: -1, max: 1, classes: 2 }, 8)).toBe(127.5);
  });
});

describe("productionCircuitPlan", () => {
  it("opens the spec's dataSpotChecks records per round, 8 by default", () => {
    const schema = { featureShape: [4], min: 0, max: 1, classes: 2 };
    expect(productionCircuitPlan(parseJobSpec({ schema }), 10).dataValidity.samples).toBe(8);
    const spec = parseJobSpec({ schema, dataSpotChecks: 16 });
    expect(productionCircuitPlan(spec, 10).dataValidity).toMatchObject({
      samples: 16,
      features: 4,
    });
  });
});
