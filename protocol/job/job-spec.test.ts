import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../coordinator/errors.js";
import { attesterSetToJson, buildAttesterSet } from "../proving/attester-set.js";
import { derivePublicKey, randomPrivateKey } from "../proving/eddsa-poseidon.js";
import { quantizedNormBound } from "../update/quantize.js";
import { aggregationWeight } from "./aggregation-weight.js";
import { jobSpecSchema, parseJobSpec, specHash } from "./job-spec.js";

const schema = { featureShape: [16], min: 0, max: 1, classes: 4 };

describe("parseJobSpec", () => {
  it("fills defaults and derives the quantisation scale from C and bits", () => {
    const spec = parseJobSpec({ schema, clipNorm: 2, quantization: { bits: 8 } });
    expect(spec.model).toBe("mlp");
    expect(spec.minClients).toBe(2);
    // 44,404 parameters: √P ≈ 210.7 > 127, so the step is C/√P (defaultQuantizationScale).
    expect(spec.quantization.scale).toBeCloseTo(2 / Math.sqrt(44_404), 12);
    expect(parseJobSpec({ schema, clipNorm: 2 }).quantization.scale).toBeCloseTo(2 / 32_767, 12);
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

  it("refuses a scale whose range would clip most coordinates of a clipped update", () => {
    // ±127·scale must hold C/√P = 10/210.7 ≈ 0.047: scale ≥ 3.7e-4.
    expect(() =>
      parseJobSpec({ schema, clipNorm: 10, quantization: { bits: 8, scale: 1e-4 } }),
    ).toThrow(/spec\.quantization\.scale: the 8-bit range .* narrower than the mean coordinate/);
    expect(
      parseJobSpec({ schema, clipNorm: 10, quantization: { bits: 8, scale: 1e-3 } }).quantization
        .scale,
    ).toBe(1e-3);
  });

  it("accepts 4-bit jobs for the Fashion-MNIST mlp with a step that leaves room for rounding", () => {
    const fmnist = { featureShape: [28, 28, 1], min: 0, max: 1, classes: 10 };
    const spec = parseJobSpec({ schema: fmnist, clipNorm: 5, quantization: { bits: 4 } });
    // 199,210 parameters. The old step C/7 bounded Σ q² by 49, below the rounding noise of
    // 199,210 coordinates; C/√P bounds it by P, four times the noise's worst case P/4.
    expect(spec.quantization.scale).toBeCloseTo(5 / Math.sqrt(199_210), 12);
    expect(quantizedNormBound(spec.clipNorm, spec.quantization.scale)).toBeGreaterThanOrEqual(
      199_209n,
    );
  });

  it("keeps the step C/maxQ for adaptive clipping, whose C grows up to the range", () => {
    const adaptive = { adaptiveClipQuantile: 0.5 };
    const spec = parseJobSpec({
      schema,
      clipNorm: 2,
      quantization: { bits: 4 },
      privacy: adaptive,
    });
    expect(spec.quantization.scale).toBeCloseTo(2 / 7, 12);
    expect(() =>
      parseJobSpec({
        schema,
        clipNorm: 2,
        quantization: { bits: 4, scale: 0.01 },
        privacy: adaptive,
      }),
    ).toThrow(/spec\.quantization\.scale: adaptive clipping needs clipNorm\/scale ≤ 7/);
  });

  it("refuses a model above the parameter limit without building it", () => {
    const huge = { schema: { ...schema, featureShape: [20_000_000] }, model: "mlp" as const };
    expect(() => parseJobSpec(huge)).toThrow(/spec\.model: mlp .* above .* maxParameters/);
    // 16·200 + 200 + 200·200 + 200 + 200·4 + 4 = 44,404 parameters.
    expect(() => parseJobSpec({ schema }, { maxParameters: 44_403 })).toThrow(/maxParameters/);
    expect(parseJobSpec({ schema }, { maxParameters: 44_404 }).model).toBe("mlp");
  });

  it("caps waits below what a Node timer can hold", () => {
    const tooLong = 25 * 24 * 3600; // above 2³¹ − 1 ms
    expect(() => parseJobSpec({ schema, enrolmentTimeoutSeconds: tooLong })).toThrow(
      /spec\.enrolmentTimeoutSeconds/,
    );
    expect(() => parseJobSpec({ schema, roundDeadlineSeconds: tooLong })).toThrow(
      /spec\.roundDeadlineSeconds/,
    );
    expect(parseJobSpec({ schema, enrolmentTimeoutSeconds: 7 * 24 * 3600 }).rounds).toBe(3);
  });

  it("checks robust strategies against the fewest updates a round may aggregate", () => {
    const krum = (byzantine: number, minClients: number) =>
      parseJobSpec({
        schema,
        clientsPerRound: 10,
        minClients,
        strategy: { name: "krum", params: { byzantine } },
      });
    expect(() =>
      parseJobSpec({
        schema,
        clientsPerRound: 2,
        strategy: { name: "krum", params: { byzantine: 100 } },
      }),
    ).toThrow(
      /spec\.strategy\.params\.byzantine: Krum with byzantine = 100 needs at least 2f \+ 3 = 203/,
    );
    expect(() => krum(2, 6)).toThrow(/spec\.strategy\.params\.byzantine/);
    expect(krum(2, 7).strategy.params).toEqual({ byzantine: 2 });
    expect(() =>
      parseJobSpec({
        schema,
        clientsPerRound: 10,
        minClients: 7,
        strategy: { name: "multi-krum", params: { byzantine: 2, selected: 6 } },
      }),
    ).toThrow(/spec\.strategy\.params\.selected/);
    const trimmed = (beta: number, minClients: number) =>
      parseJobSpec({
        schema,
        clientsPerRound: 10,
        minClients,
        strategy: { name: "trimmed-mean", params: { beta } },
      });
    expect(() => trimmed(0.1, 5)).toThrow(/spec\.strategy\.params\.beta: trims/);
    expect(trimmed(0.2, 5).strategy.name).toBe("trimmed-mean");
  });

  it("leaves the admission checks out of the schema the verifier reads old specs with", () => {
    const old = { schema, clientsPerRound: 4, strategy: { name: "trimmed-mean", params: {} } };
    expect(jobSpecSchema.safeParse(old).success).toBe(true);
    expect(() => parseJobSpec(old)).toThrow(/spec\.strategy\.params\.beta/);
  });

  it("takes the DP population from the spec, never from the devices", () => {
    expect(parseJobSpec({ schema }).privacy.population).toBe("none");
    expect(parseJobSpec({ schema, privacy: { population: 1000 } }).privacy.population).toBe(1000);
    expect(parseJobSpec({ schema, privacy: { population: "attested" } }).privacy.population).toBe(
      "attested",
    );
    expect(() => parseJobSpec({ schema, clientsPerRound: 8, privacy: { population: 4 } })).toThrow(
      /spec\.privacy\.population: a declared population must be at least clientsPerRound/,
    );
    expect(() => parseJobSpec({ schema, privacy: { population: "registered" } })).toThrow(
      /spec\.privacy\.population/,
    );
    const a = parseJobSpec({ schema, privacy: { population: 1000 } });
    const b = parseJobSpec({ schema, privacy: { population: 1001 } });
    expect(specHash(a)).not.toBe(specHash(b));
  });

  it("refuses, in a job with proofs, central-DP noise wider than the 32-bit noise circuit", () => {
    // σ = z·C/scale = 20,000 · 32,767 steps: the noise reaches 5.6·10⁹ > 2^31.
    const wide = { schema, proofs: true, privacy: { noiseMultiplier: 20_000 } };
    expect(() => parseJobSpec(wide)).toThrow(
      /spec\.privacy\.noiseMultiplier: central-DP noise of σ = .* \(z = 20000\) does not fit the 32-bit noise circuit/,
    );
    // Without proofs nothing is proven about the noise, and z = 1 fits in 20 bits.
    expect(parseJobSpec({ ...wide, proofs: false }).privacy.noiseMultiplier).toBe(20_000);
    expect(parseJobSpec({ ...wide, privacy: { noiseMultiplier: 1 } }).proofs).toBe(true);
  });

  it("caps the aggregation weight per device", () => {
    expect(parseJobSpec({ schema }).maxSamplesPerDevice).toBe(100_000);
    expect(() => parseJobSpec({ schema, minSamples: 10, maxSamplesPerDevice: 5 })).toThrow(
      /spec\.maxSamplesPerDevice/,
    );
  });

  it("weighs every contribution 1 under central DP, whatever its samples", () => {
    const spec = parseJobSpec({ schema, maxSamplesPerDevice: 50 });
    expect(aggregationWeight(40, spec)).toBe(40);
    expect(aggregationWeight(900, spec)).toBe(50);
    const dp = parseJobSpec({ schema, privacy: { noiseMultiplier: 1 } });
    expect([1, 40, 900].map((samples) => aggregationWeight(samples, dp))).toEqual([1, 1, 1]);
  });

  it("quotes at most a bounded prefix of what it received", () => {
    const key = "k".repeat(1_000_000);
    let message = "";
    try {
      parseJobSpec({ schema, strategy: { name: "fedavg", params: { [key]: 1 } } });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/^invalid job spec: spec\.strategy\.params/);
    expect(message.length).toBeLessThan(2_000);
  });

  it("hashes specs canonically", () => {
    const a = parseJobSpec({ schema, rounds: 2, name: "x" });
    const b = parseJobSpec({ name: "x", rounds: 2, schema });
    expect(specHash(a)).toBe(specHash(b));
    expect(specHash(a)).not.toBe(specHash(parseJobSpec({ schema, rounds: 3, name: "x" })));
  });
});

describe("spec.attesters", () => {
  const set = attesterSetToJson(
    buildAttesterSet({ keys: [derivePublicKey(randomPrivateKey())], depth: 2 }),
  );

  it("pins the attester root in the spec hash", () => {
    const spec = parseJobSpec({ schema, proofs: true, attesters: set });
    expect(spec.attesters).toEqual(set);
    const rootOnly = parseJobSpec({
      schema,
      proofs: true,
      attesters: { root: set.root, depth: 2 },
    });
    expect(specHash(rootOnly)).not.toBe(specHash(parseJobSpec({ schema, proofs: true })));
    expect(specHash(rootOnly)).not.toBe(
      specHash(parseJobSpec({ schema, proofs: true, attesters: { root: "1", depth: 2 } })),
    );
  });

  it("refuses keys that do not hash to the root, a bad root and a job without proofs", () => {
    expect(() =>
      parseJobSpec({ schema, proofs: true, attesters: { ...set, root: "12345" } }),
    ).toThrow(/spec\.attesters\.keys: the attester set's keys hash to root/);
    expect(() =>
      parseJobSpec({ schema, proofs: true, attesters: { root: "0x12", depth: 2 } }),
    ).toThrow(/spec\.attesters\.root: must be a decimal field element/);
    expect(() => parseJobSpec({ schema, attesters: set })).toThrow(
      /spec\.attesters: attested data is checked by the data-validity proof/,
    );
  });
});
