import { describe, expect, it } from "vitest";
import { DATA_VALIDITY_SIGNAL_NAMES } from "../protocol/proofs/public-signals.js";
import { valuesPerElement } from "../protocol/proving/update-norm-parameters.js";
import {
  circuitName,
  dataValidityCircuit,
  estimateUpdateNormConstraints,
  mainSource,
  productionChunkSize,
  TEST_CIRCUITS,
} from "./circuit-catalog.js";

describe("circuit catalog", () => {
  it("sizes production chunks to fill a 2^16 domain and whole sponge blocks", () => {
    for (const bits of [8, 16]) {
      const n = productionChunkSize(bits);
      // The packed values, the salt and the two KZG blinding values fill whole blocks.
      const blocks = (n / valuesPerElement(bits) + 3) / 16;
      expect(Number.isInteger(blocks)).toBe(true);
      expect(estimateUpdateNormConstraints({ n, bits })).toBeLessThanOrEqual(65_520);
      // One more block would not fit.
      const bigger = valuesPerElement(bits) * (16 * (blocks + 1) - 3);
      expect(estimateUpdateNormConstraints({ n: bigger, bits })).toBeGreaterThan(65_520);
    }
    // 3,345 and 6,417 before the KZG evaluation (n + 1 constraints) and blinding (2 elements).
    expect(productionChunkSize(16)).toBe(3075);
    expect(productionChunkSize(8)).toBe(5859);
  });

  it("estimates no fewer constraints than the compiler produces for the test chunk", () => {
    // Compiled: 1,900 constraints (circuits/update-norm.test.ts builds it; 1,829 before the
    // KZG evaluation).
    expect(estimateUpdateNormConstraints(TEST_CIRCUITS.updateNorm)).toBeGreaterThanOrEqual(1900);
  });

  it("names circuits by every compile-time parameter", () => {
    expect(circuitName(TEST_CIRCUITS.updateNorm)).toBe("update-norm-n64-b16");
    expect(circuitName(TEST_CIRCUITS.dataValidity)).toBe("data-validity-d6-f8-k2-fb8-lb8-ad2");
    // A circuit without an attester check keeps the name it had before attesters existed.
    expect(circuitName({ ...TEST_CIRCUITS.dataValidity, attesterDepth: 0 })).toBe(
      "data-validity-d6-f8-k2-fb8-lb8",
    );
    expect(mainSource(TEST_CIRCUITS.updateNorm)).toContain("UpdateNormChunk(64, 16)");
    expect(mainSource(TEST_CIRCUITS.dataValidity)).toContain("DataValidity(6, 8, 2, 8, 8, 2)");
  });

  it("declares the DataValidity public inputs in the order the signal decoder reads them", () => {
    expect(mainSource(TEST_CIRCUITS.dataValidity)).toContain(
      `{public [${DATA_VALIDITY_SIGNAL_NAMES.join(", ")}]}`,
    );
    // Appended, never inserted: readers of the first nine signals keep their indices.
    expect(DATA_VALIDITY_SIGNAL_NAMES.slice(0, 9)).toEqual([
      "context",
      "datasetCommitment",
      "sampleCount",
      "minSamples",
      "featureMin",
      "featureMax",
      "classes",
      "publicKeyX",
      "publicKeyY",
    ]);
    expect(DATA_VALIDITY_SIGNAL_NAMES.slice(9)).toEqual(["attesterRoot", "jobScope", "nullifier"]);
  });

  it("opens eight records by default and builds no attester check unless asked", () => {
    const spec = dataValidityCircuit({ features: 784 });
    expect(spec).toMatchObject({ samples: 8, attesterDepth: 0, depth: 16 });
    expect(dataValidityCircuit({ features: 16, attesterDepth: 10 })).toMatchObject({
      attesterDepth: 10,
    });
  });
});
