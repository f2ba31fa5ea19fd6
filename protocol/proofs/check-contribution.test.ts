import { describe, expect, it } from "vitest";
import { schemaBounds } from "../proving/dataset-commitment.js";
import { featureScaleFor } from "../proving/feature-scale.js";
import { idToField } from "../proving/field.js";
import { poseidonSponge } from "../proving/poseidon.js";
import { encodeFieldElement, encodePublicKey } from "../proving/proof-codec.js";
import { contextValue, DATA_VALIDITY_INDEX } from "../proving/proof-context.js";
import { quantizedNormBound } from "../update/quantize.js";
import { type CheckContributionParameters, checkContribution } from "./check-contribution.js";
import {
  UPDATE_NORM_SIGNAL_INDEX as AT,
  type DataValiditySignals,
  encodeDataValiditySignals,
} from "./public-signals.js";

const context = {
  jobId: "job-1",
  round: 2,
  globalModelHash: "ab".repeat(32),
  deviceId: "sim-001",
  roundSeed: "cd".repeat(32),
};
const spec = {
  clipNorm: 1,
  quantization: { bits: 16, scale: 0.001, stochastic: false },
  minSamples: 10,
  schema: { featureShape: [8], min: 0, max: 1, classes: 2 },
};
const C2 = quantizedNormBound(1, 0.001);
const circuits = {
  updateNorm: { id: "update-norm-n64-b16-abc", parameters: { n: 64, bits: 16 } },
  dataValidity: { id: "data-validity-d6-f8-k2-fb8-lb8-ad2-abc", parameters: { featureBits: 8 } },
};
const key = { x: 5n, y: 6n };
const dataset = 77n;

function dataSignals(overrides: Partial<DataValiditySignals> = {}): string[] {
  const bounds = schemaBounds({ featureScale: featureScaleFor(spec.schema, 8), min: 0, max: 1 });
  return encodeDataValiditySignals({
    context: contextValue(context, DATA_VALIDITY_INDEX),
    datasetCommitment: dataset,
    sampleCount: 40n,
    minSamples: 10n,
    featureMin: bounds.featureMin,
    featureMax: bounds.featureMax,
    classes: 2n,
    publicKeyX: key.x,
    publicKeyY: key.y,
    attesterRoot: 0n,
    jobScope: idToField(context.jobId),
    nullifier: 99n,
    ...overrides,
  });
}

/** Two chained chunks over 100 parameters and a data proof, as honest proofs carry them. */
function honest(): CheckContributionParameters {
  const commitments = [11n, 22n];
  const chunk = (j: number, partial: bigint, before: bigint, c2 = C2) => ({
    circuitId: circuits.updateNorm.id,
    // In circuit order; evaluation and kzgChallenge are only checked against KZG commitments,
    // which these parameters do not pass.
    publicSignals: [commitments[j]!, partial, 0n, contextValue(context, j), c2, before, 0n].map(
      String,
    ),
  });
  return {
    spec,
    paramCount: 100,
    circuits,
    enrolment: {
      publicKey: Buffer.from(encodePublicKey(key)).toString("hex"),
      datasetCommitment: Buffer.from(encodeFieldElement(dataset)).toString("hex"),
    },
    context,
    samples: 40,
    commitment: poseidonSponge(commitments).toString(16),
    proofs: [
      chunk(0, 30n, 0n),
      chunk(1, 50n, 30n),
      { circuitId: circuits.dataValidity.id, publicSignals: dataSignals() },
    ],
  };
}

const messages = (parameters: CheckContributionParameters) =>
  checkContribution(parameters).problems.map((p) => p.message);

function withSignal(parameters: CheckContributionParameters, proof: number, i: number, v: bigint) {
  return {
    ...parameters,
    proofs: parameters.proofs.map((p, k) =>
      k === proof
        ? { ...p, publicSignals: p.publicSignals.map((s, j) => (j === i ? String(v) : s)) }
        : p,
    ),
  };
}

describe("checkContribution", () => {
  it("accepts signals that are the job's, the round's and the enrolment's", () => {
    const result = checkContribution(honest());
    expect(result.problems).toEqual([]);
    expect(result.expected.c2).toBe(1_000_000n);
    expect(result.squaredNorm).toBe(80n);
  });

  it("takes C2 from the round's clip norm and the spec's scale, never from the proof", () => {
    const chosen = withSignal(withSignal(honest(), 0, AT.c2, 2n ** 40n), 1, AT.c2, 2n ** 40n);
    expect(checkContribution(chosen).problems[0]).toEqual({
      check: "clip-bound",
      message:
        "UpdateNorm chunk proof 0 proves Σq² against C2 = 1099511627776, the round's bound is 1000000",
    });
    // Adaptive clipping moved this round's C to 2: the honest proofs against C = 1 no longer fit.
    expect(messages({ ...honest(), roundClipNorm: 2 })).toContain(
      "UpdateNorm chunk proof 0 proves Σq² against C2 = 1000000, the round's bound is 4000000",
    );
  });

  it("requires chunks that cover exactly the parameters, chained from 0 under C2", () => {
    const dropped = honest();
    dropped.proofs = [dropped.proofs[0]!, dropped.proofs[2]!];
    expect(messages(dropped)).toContain(
      "expected 2 UpdateNorm chunk proofs for 100 parameters (chunks of 64), got 1",
    );
    expect(messages({ ...honest(), paramCount: 200 })).toContain(
      "expected 4 UpdateNorm chunk proofs for 200 parameters (chunks of 64), got 2",
    );
    expect(messages(withSignal(honest(), 1, AT.sumBefore, 29n))).toContain(
      "UpdateNorm chunk proof 1 starts from Σq² = 29, the chunks before it sum to 30",
    );
    expect(messages(withSignal(honest(), 0, AT.sumBefore, 1n))).toContain(
      "UpdateNorm chunk proof 0 starts from Σq² = 1, the chunks before it sum to 0",
    );
    const over = withSignal(honest(), 1, AT.partialSum, C2);
    expect(messages(over)).toContain(
      `the proven Σq² = ${C2 + 30n} exceeds the clip bound C2 = ${C2}`,
    );
  });

  it("names a proof bound to another round, device or chunk position", () => {
    expect(messages({ ...honest(), context: { ...context, round: 3 } })).toEqual(
      expect.arrayContaining([
        "UpdateNorm chunk proof 0 is bound to another job, round, parent model, device, round challenge seed or chunk position",
        "the data-validity proof is bound to another job, round, parent model, device or round challenge seed",
      ]),
    );
    const swapped = honest();
    swapped.proofs = [swapped.proofs[1]!, swapped.proofs[0]!, swapped.proofs[2]!];
    expect(checkContribution(swapped).problems[0]?.check).toBe("context");
  });

  it("requires exactly one data-validity proof", () => {
    const none = honest();
    none.proofs = none.proofs.slice(0, 2);
    expect(checkContribution(none).problems).toEqual([
      { check: "proof-missing", message: "expected one data-validity proof, got 0" },
    ]);
    const two = honest();
    two.proofs = [...two.proofs, two.proofs[2]!];
    expect(messages(two)).toContain("expected one data-validity proof, got 2");
  });

  it("matches every data-validity signal against the spec, the enrolment and the claim", () => {
    const data = (overrides: Partial<DataValiditySignals>) => {
      const p = honest();
      p.proofs = [
        ...p.proofs.slice(0, 2),
        { circuitId: circuits.dataValidity.id, publicSignals: dataSignals(overrides) },
      ];
      return checkContribution(p).problems;
    };
    expect(data({ sampleCount: 1_000_000n })).toEqual([
      {
        check: "dataset",
        message:
          "the data-validity proof proves 1000000 samples, the contribution claims 40 (its aggregation weight)",
        proof: "data-validity",
      },
    ]);
    expect(messages({ ...honest(), samples: 1_000_000 })).toContain(
      "the data-validity proof proves 40 samples, the contribution claims 1000000 (its aggregation weight)",
    );
    expect(data({ minSamples: 1n })[0]?.message).toBe(
      "the data-validity proof checks at least 1 samples, the job requires 10",
    );
    expect(data({ featureMax: 1000n })[0]?.check).toBe("schema");
    expect(data({ classes: 3n })[0]?.message).toBe(
      "the data-validity proof checks 3 classes, the job has 2",
    );
    expect(data({ publicKeyY: 7n })[0]).toEqual({
      check: "unregistered-key",
      message: "the dataset is signed by a key the device did not register",
      proof: "data-validity",
    });
    expect(data({ datasetCommitment: 78n })[0]?.check).toBe("dataset");
    expect(data({ jobScope: idToField("job-2") })[0]?.message).toBe(
      "the data-validity proof is scoped to another job",
    );
    expect(data({ attesterRoot: 5n })[0]?.check).toBe("schema");
  });

  it("names proofs that commit to another update than the anchored commitment", () => {
    expect(checkContribution({ ...honest(), commitment: "1234" }).problems).toEqual([
      {
        check: "commitment",
        message: "the UpdateNorm proofs commit to another update than the anchored commitment",
      },
    ]);
    const { commitment: _, ...recomputedElsewhere } = honest();
    expect(checkContribution(recomputedElsewhere).problems).toEqual([]);
  });

  it("refuses proofs of circuits the job does not use, or of another bit width", () => {
    const stranger = honest();
    stranger.proofs = [
      ...stranger.proofs,
      { circuitId: "update-norm-n64-b8-x", publicSignals: [] },
    ];
    expect(messages(stranger)).toContain("proof for unknown circuit update-norm-n64-b8-x");
    expect(
      messages({ ...honest(), spec: { ...spec, quantization: { ...spec.quantization, bits: 8 } } }),
    ).toContain(
      "the job quantises to 8 bits, circuit update-norm-n64-b16-abc proves 16-bit values",
    );
  });
});
