import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dataValidityInputs } from "../client/core/proving/data-validity-inputs.js";
import {
  inThreadProver,
  ProofGenerationError,
  type ProofWithSignals,
  type Prover,
} from "../client/core/proving/prove-groth16.js";
import { proveUpdate } from "../client/core/proving/prove-update.js";
import { releaseSnarkjsThreads } from "../client/core/proving/release-snarkjs.js";
import {
  type VerifyContributionParameters,
  verifyContribution,
} from "../coordinator/proofs/verify-contribution.js";
import {
  ContextMismatchError,
  DatasetMismatchError,
  ProofMissingError,
  SchemaMismatchError,
  UnregisteredKeyError,
} from "../protocol/proofs/errors.js";
import {
  type CommittedDataset,
  commitDataset,
  type DatasetRecord,
  encodeRecord,
  schemaBounds,
} from "../protocol/proving/dataset-commitment.js";
import { derivePublicKey, signPoseidon } from "../protocol/proving/eddsa-poseidon.js";
import { encodeUpdate } from "../protocol/update/quantize.js";
import type { CircuitArtifacts } from "./build.js";
import { TEST_CIRCUITS } from "./circuit-catalog.js";
import { testCircuits } from "./test-circuits.js";

// Real DataValidity circuit: depth-6 tree, 8 features of 8 bits, k = 2 sampled records.
const SHAPE = TEST_CIRCUITS.dataValidity;
const encoding = { featureScale: 255, min: 0, max: 200 / 255 }; // integer bounds [0, 200]
const { featureMin, featureMax } = schemaBounds(encoding);
const CLASSES = 10;
const MIN_SAMPLES = 20;
const context = {
  jobId: "job-data",
  round: 2,
  globalModelHash: "12".repeat(32),
  deviceId: "device-a",
};
const deviceKey = new Uint8Array(32).fill(7);
const otherKey = new Uint8Array(32).fill(9);

function records(count: number, tweak?: (features: number[], i: number) => void): DatasetRecord[] {
  return Array.from({ length: count }, (_, i) => {
    const features = Array.from(
      { length: SHAPE.features },
      (_, f) => ((i * 31 + f * 17) % 201) / 255,
    );
    tweak?.(features, i);
    return encodeRecord(features, i % CLASSES, encoding);
  });
}

let updateCircuit: CircuitArtifacts;
let dataCircuit: CircuitArtifacts;
let dataProver: Prover;
let dataset: CommittedDataset;
let dataProof: ProofWithSignals;
let updateProofs: ProofWithSignals[];
const q = Int32Array.from({ length: 40 }, (_, i) => (i % 9) - 4);
const salt = 42n;
const c2 = 1000n;

function proveData(
  d: CommittedDataset,
  ctx = context,
  overrides: { minSamples?: number; classes?: number } = {},
) {
  const { input } = dataValidityInputs({
    dataset: d,
    context: ctx,
    minSamples: overrides.minSamples ?? MIN_SAMPLES,
    featureMin,
    featureMax,
    classes: overrides.classes ?? CLASSES,
  });
  return dataProver(input);
}

function parameters(
  overrides: Partial<VerifyContributionParameters> = {},
): VerifyContributionParameters {
  return {
    circuits: {
      updateNorm: {
        id: updateCircuit.id,
        verificationKey: updateCircuit.verificationKey,
        parameters: { n: 64, bits: 16 },
      },
      dataValidity: { id: dataCircuit.id, verificationKey: dataCircuit.verificationKey },
    },
    proofs: [
      ...updateProofs.map((p) => ({ circuitId: updateCircuit.id, ...p })),
      { circuitId: dataCircuit.id, ...dataProof },
    ],
    expected: {
      ...context,
      c2,
      data: {
        datasetCommitment: dataset.commitment,
        publicKey: [dataset.publicKey.x, dataset.publicKey.y],
        samples: dataset.sampleCount,
        minSamples: MIN_SAMPLES,
        featureMin,
        featureMax,
        classes: CLASSES,
      },
    },
    uploadedBytes: encodeUpdate(q, 16),
    bits: 16,
    paramCount: q.length,
    salt,
    ...overrides,
  };
}

beforeAll(async () => {
  ({ updateNorm: updateCircuit, dataValidity: dataCircuit } = await testCircuits());
  dataProver = inThreadProver({
    wasm: await readFile(dataCircuit.wasmPath),
    zkey: await readFile(dataCircuit.zkeyPath),
  });
  const updateProver = inThreadProver({
    wasm: await readFile(updateCircuit.wasmPath),
    zkey: await readFile(updateCircuit.zkeyPath),
  });
  dataset = commitDataset({ parameters: SHAPE, records: records(40), privateKey: deviceKey });
  dataProof = await proveData(dataset);
  ({ proofs: updateProofs } = await proveUpdate({
    q,
    circuit: { n: 64, bits: 16 },
    salt,
    context,
    c2,
    prover: updateProver,
  }));
});

afterAll(async () => {
  await releaseSnarkjsThreads();
});

describe("DataValidity circuit", () => {
  it("proves an honest dataset and the whole contribution verifies", async () => {
    const { publicSignals } = dataValidityInputs({
      dataset,
      context,
      minSamples: MIN_SAMPLES,
      featureMin,
      featureMax,
      classes: CLASSES,
    });
    expect(dataProof.publicSignals).toEqual(publicSignals);
    const result = await verifyContribution(parameters());
    expect(result.samples).toBe(40);
    expect(result.proofsChecked).toBe(2);
  });

  it("cannot prove when a sampled record lies outside the schema", async () => {
    // Every record has one feature at 230 > 200: whichever records the challenge picks, the
    // range check on them fails.
    const bad = commitDataset({
      parameters: SHAPE,
      records: records(40, (f) => {
        f[3] = 230 / 255;
      }),
      privateKey: deviceKey,
    });
    await expect(proveData(bad)).rejects.toThrow(ProofGenerationError);
    // A label outside the classes fails the same way.
    await expect(proveData(dataset, context, { classes: 1 })).rejects.toThrow(ProofGenerationError);
  });

  it("cannot prove with fewer samples than the job's minimum", async () => {
    await expect(proveData(dataset, context, { minSamples: 41 })).rejects.toThrow(
      ProofGenerationError,
    );
  });

  it("rejects a dataset signed by a key the device did not register", async () => {
    const foreign = commitDataset({
      parameters: SHAPE,
      records: records(40),
      privateKey: otherKey,
    });
    const foreignProof = await proveData(foreign);
    const registered = derivePublicKey(deviceKey);
    const p = parameters({
      proofs: [
        ...updateProofs.map((x) => ({ circuitId: updateCircuit.id, ...x })),
        { circuitId: dataCircuit.id, ...foreignProof },
      ],
    });
    p.expected.data = { ...p.expected.data!, publicKey: [registered.x, registered.y] };
    await expect(verifyContribution(p)).rejects.toThrow(UnregisteredKeyError);
    // Claiming the registered key with a signature from another key: no witness exists.
    const forged: CommittedDataset = {
      ...dataset,
      signature: signPoseidon(otherKey, dataset.commitment),
    };
    await expect(proveData(forged)).rejects.toThrow(ProofGenerationError);
  });

  it("rejects a data proof replayed in another round, or about another dataset or schema", async () => {
    const p = parameters({ expected: { ...parameters().expected, round: context.round + 1 } });
    // The chunk proofs fail first for the replayed round; check the data proof on its own too.
    await expect(verifyContribution(p)).rejects.toThrow(ContextMismatchError);
    const replayed = await proveData(dataset, { ...context, round: 1 });
    const withReplay = parameters({
      proofs: [
        ...updateProofs.map((x) => ({ circuitId: updateCircuit.id, ...x })),
        { circuitId: dataCircuit.id, ...replayed },
      ],
    });
    await expect(verifyContribution(withReplay)).rejects.toThrow(ContextMismatchError);

    const expected = parameters().expected;
    await expect(
      verifyContribution(
        parameters({
          expected: { ...expected, data: { ...expected.data!, datasetCommitment: 5n } },
        }),
      ),
    ).rejects.toThrow(DatasetMismatchError);
    await expect(
      verifyContribution(
        parameters({ expected: { ...expected, data: { ...expected.data!, samples: 1000 } } }),
      ),
    ).rejects.toThrow(DatasetMismatchError);
    await expect(
      verifyContribution(
        parameters({ expected: { ...expected, data: { ...expected.data!, featureMax: 255n } } }),
      ),
    ).rejects.toThrow(SchemaMismatchError);
  });

  it("requires the data proof when the job asks for one", async () => {
    await expect(
      verifyContribution(
        parameters({ proofs: updateProofs.map((x) => ({ circuitId: updateCircuit.id, ...x })) }),
      ),
    ).rejects.toThrow(ProofMissingError);
  });
});
