import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as snarkjs from "snarkjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dataValidityInputs } from "../client/core/proving/data-validity-inputs.js";
import { releaseSnarkjsThreads } from "../client/core/proving/release-snarkjs.js";
import { InvalidArgumentError } from "../common/errors.js";
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
  DATA_VALIDITY_SIGNAL_INDEX,
  parseDataValiditySignals,
} from "../protocol/proofs/public-signals.js";
import {
  type AttesterSet,
  attestDataset,
  attesterMembership,
  attesterRootOf,
  buildAttesterSet,
} from "../protocol/proving/attester-set.js";
import {
  type CommittedDataset,
  commitDataset,
  type DatasetRecord,
  datasetNullifier,
  encodeRecord,
  schemaBounds,
} from "../protocol/proving/dataset-commitment.js";
import { derivePublicKey, signPoseidon } from "../protocol/proving/eddsa-poseidon.js";
import { idToField } from "../protocol/proving/field.js";
import type { KzgSrs } from "../protocol/proving/kzg.js";
import {
  inThreadProver,
  ProofGenerationError,
  type ProofWithSignals,
  type Prover,
} from "../protocol/proving/prove-groth16.js";
import { type ChunkKzgUpload, proveUpdate } from "../protocol/proving/prove-update-norm.js";
import { encodeUpdate } from "../protocol/update/quantize.js";
import type { CircuitArtifacts } from "./build.js";
import { type CircuitSpec, circuitName, mainSource, TEST_CIRCUITS } from "./circuit-catalog.js";
import { compileCircuit } from "./compile-circuit.js";
import { testCircuits } from "./test-circuits.js";

// Real DataValidity circuit: depth-6 tree, 8 features of 8 bits, k = 2 sampled records, an
// attester tree of depth 2.
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
  roundSeed: "5e".repeat(32),
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
let updateKzg: ChunkKzgUpload[];
let srs: KzgSrs;
const q = Int32Array.from({ length: 40 }, (_, i) => (i % 9) - 4);
const salt = 42n;
const c2 = 1000n;

function dataInputs(
  d: CommittedDataset,
  ctx = context,
  overrides: { minSamples?: number; classes?: number; attesterSet?: AttesterSet } = {},
) {
  return dataValidityInputs({
    dataset: d,
    context: ctx,
    minSamples: overrides.minSamples ?? MIN_SAMPLES,
    featureMin,
    featureMax,
    classes: overrides.classes ?? CLASSES,
    attesterSet: overrides.attesterSet,
  });
}

function proveData(
  d: CommittedDataset,
  ctx = context,
  overrides: { minSamples?: number; classes?: number; attesterSet?: AttesterSet } = {},
) {
  return dataProver(dataInputs(d, ctx, overrides).input);
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
        srs,
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
    kzg: updateKzg,
    ...overrides,
  };
}

beforeAll(async () => {
  ({ updateNorm: updateCircuit, dataValidity: dataCircuit, srs } = await testCircuits());
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
  ({ proofs: updateProofs, kzg: updateKzg } = await proveUpdate({
    q,
    circuit: { n: 64, bits: 16 },
    salt,
    context,
    c2,
    srs,
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
    // A label outside the classes fails the same way: every label here is ≥ 1 and the job
    // allows class 0 only, so whichever records the challenge picks (it moves with the round's
    // seed), the label check on them fails.
    const mislabelled = commitDataset({
      parameters: SHAPE,
      records: records(40).map((record) => ({ ...record, label: CLASSES - 1 })),
      privateKey: deviceKey,
    });
    await expect(proveData(mislabelled, context, { classes: 1 })).rejects.toThrow(
      ProofGenerationError,
    );
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

// The job trusts three sensors; a fourth key is a stranger with the same kind of key.
const attesterKeys = [11, 12, 13].map((b) => new Uint8Array(32).fill(b));
const strangerKey = new Uint8Array(32).fill(14);
const attesters = buildAttesterSet({
  keys: attesterKeys.map(derivePublicKey),
  depth: TEST_CIRCUITS.dataValidity.attesterDepth,
});

/** A dataset of `count` records, attested by `attester` over `attested` (root, count). */
function attested(count: number, attester: Uint8Array, privateKey = deviceKey): CommittedDataset {
  const plain = commitDataset({ parameters: SHAPE, records: records(count), privateKey });
  const attestation = attestDataset({
    privateKey: attester,
    root: plain.tree.root,
    sampleCount: plain.sampleCount,
  });
  return commitDataset({ parameters: SHAPE, records: records(count), privateKey, attestation });
}

const verify = (signals: readonly string[], proof: ProofWithSignals["proof"]) =>
  snarkjs.groth16.verify(dataCircuit.verificationKey, [...signals], proof);

describe("DataValidity with attested data", () => {
  it("proves a dataset attested by a key of the job's set, without naming the key", async () => {
    const d = attested(40, attesterKeys[1]!);
    const { publicSignals, signals } = dataInputs(d, context, { attesterSet: attesters });
    const proof = await proveData(d, context, { attesterSet: attesters });
    expect(proof.publicSignals).toEqual(publicSignals);
    expect(await verify(proof.publicSignals, proof.proof)).toBe(true);
    const parsed = parseDataValiditySignals(proof.publicSignals);
    expect(parsed).toEqual(signals);
    expect(parsed.attesterRoot).toBe(attesters.root);
    // Nothing public names the attester: its key and path are private inputs.
    for (const key of attesters.keys) {
      expect(proof.publicSignals).not.toContain(key.x.toString());
      expect(proof.publicSignals).not.toContain(key.y.toString());
    }
    // The old signals keep their positions.
    expect(proof.publicSignals[0]).toBe(parsed.context.toString());
    expect(proof.publicSignals[2]).toBe("40");
  });

  it("cannot prove a dataset signed by a key outside the attester set", async () => {
    const d = attested(40, strangerKey);
    // The device-side helper refuses first …
    expect(() => dataInputs(d, context, { attesterSet: attesters })).toThrow(InvalidArgumentError);
    // … and a witness built against a set that includes the stranger has no path to the
    // job's root, so no proof exists for the job's attesterRoot.
    const withStranger = buildAttesterSet({
      keys: [...attesters.keys, derivePublicKey(strangerKey)],
      depth: attesters.depth,
    });
    expect(
      attesterRootOf(
        d.attestation!.publicKey,
        attesterMembership(withStranger, d.attestation!.publicKey),
      ),
    ).toBe(withStranger.root);
    const { input } = dataInputs(d, context, { attesterSet: withStranger });
    await expect(dataProver({ ...input, attesterRoot: attesters.root.toString() })).rejects.toThrow(
      ProofGenerationError,
    );
  });

  it("cannot prove when the attester signed another count, or the device padded the dataset", async () => {
    const honest = commitDataset({
      parameters: SHAPE,
      records: records(40),
      privateKey: deviceKey,
    });
    // The attester vouched for 32 records under this root; the device claims 40.
    const otherCount = attestDataset({
      privateKey: attesterKeys[0]!,
      root: honest.tree.root,
      sampleCount: 32,
    });
    expect(() =>
      commitDataset({
        parameters: SHAPE,
        records: records(40),
        privateKey: deviceKey,
        attestation: otherCount,
      }),
    ).toThrow(InvalidArgumentError);
    await expect(
      proveData({ ...honest, attestation: otherCount }, context, { attesterSet: attesters }),
    ).rejects.toThrow(ProofGenerationError);

    // Attested 40 records; the device appends 8 of its own to weigh more.
    const attested40 = attested(40, attesterKeys[0]!);
    const padded = commitDataset({
      parameters: SHAPE,
      records: records(48),
      privateKey: deviceKey,
    });
    await expect(
      proveData({ ...padded, attestation: attested40.attestation }, context, {
        attesterSet: attesters,
      }),
    ).rejects.toThrow(ProofGenerationError);
  });

  it("proves self-attested data on the same circuit with attesterRoot = 0", async () => {
    const signals = parseDataValiditySignals(dataProof.publicSignals);
    expect(signals.attesterRoot).toBe(0n);
    expect(await verify(dataProof.publicSignals, dataProof.proof)).toBe(true);
    // A dataset carrying an attestation still proves self-attested when the job names no set.
    const d = attested(40, attesterKeys[2]!);
    const proof = await proveData(d);
    expect(parseDataValiditySignals(proof.publicSignals).attesterRoot).toBe(0n);
  });

  it("lets a failed attestation through only as attesterRoot = 0, which a job with attesters refuses", async () => {
    const d = attested(40, strangerKey);
    const withStranger = buildAttesterSet({
      keys: [...attesters.keys, derivePublicKey(strangerKey)],
      depth: attesters.depth,
    });
    const { input, publicSignals } = dataInputs(d, context, { attesterSet: withStranger });
    // Dropping the root to 0 switches the checks off: the proof exists …
    const proof = await dataProver({ ...input, attesterRoot: "0" });
    const root = DATA_VALIDITY_SIGNAL_INDEX.attesterRoot;
    expect(proof.publicSignals[root]).toBe("0");
    expect(await verify(proof.publicSignals, proof.proof)).toBe(true);
    // … but it says "self-attested" and cannot be shown as attested by any set: with the job's
    // root (or the stranger's set's) in its place, the proof does not verify.
    for (const claimed of [attesters.root, withStranger.root]) {
      const relabelled = proof.publicSignals.map((v, i) => (i === root ? claimed.toString() : v));
      expect(await verify(relabelled, proof.proof)).toBe(false);
    }
    expect(publicSignals[root]).toBe(withStranger.root.toString());
  });

  it("exposes the per-job nullifier of the dataset, the same under every device key", async () => {
    const d = attested(40, attesterKeys[0]!);
    const sybil = attested(40, attesterKeys[0]!, otherKey);
    const otherJob = { ...context, jobId: "job-other" };
    const [a, b, c] = await Promise.all([
      proveData(d, context, { attesterSet: attesters }),
      proveData(sybil, { ...context, deviceId: "device-b" }, { attesterSet: attesters }),
      proveData(d, otherJob, { attesterSet: attesters }),
    ]);
    const nullifier = (p: ProofWithSignals) => parseDataValiditySignals(p.publicSignals).nullifier;
    const expected = datasetNullifier(idToField(context.jobId), d.tree.root, d.sampleCount);
    expect(nullifier(a)).toBe(expected);
    expect(parseDataValiditySignals(a.publicSignals).jobScope).toBe(idToField(context.jobId));
    // Another key, another device id, the same attested dataset: the same nullifier.
    expect(nullifier(b)).toBe(expected);
    // Another job: another nullifier.
    expect(nullifier(c)).toBe(datasetNullifier(idToField("job-other"), d.tree.root, 40));
    expect(nullifier(c)).not.toBe(expected);
    // The nullifier is bound: a proof does not verify with another job's value in its place.
    const at = DATA_VALIDITY_SIGNAL_INDEX.nullifier;
    const moved = a.publicSignals.map((v, i) => (i === at ? nullifier(c).toString() : v));
    expect(await verify(moved, a.proof)).toBe(false);
  });
});

describe("DataValidity at k = 8 and 16", () => {
  // Witness generation only (no setup): the template must compile and constrain correctly for
  // the production spot-check counts, not only for the test circuit's k = 2.
  it("compiles and opens k records, in both modes", async () => {
    const dir = await mkdtemp(join(tmpdir(), "fedproof-dv-k-"));
    try {
      for (const samples of [8, 16]) {
        const spec = {
          kind: "data-validity",
          depth: 4,
          features: 2,
          samples,
          featureBits: 8,
          labelBits: 8,
          attesterDepth: 1,
        } as const satisfies CircuitSpec;
        const name = circuitName(spec);
        const { wasmPath } = await compileCircuit({
          name,
          mainSource: mainSource(spec),
          outDir: join(dir, name),
        });
        const small = (count: number, bad = false) =>
          Array.from({ length: count }, (_, i) =>
            encodeRecord(
              [(i * 7) % 200, bad && i % 2 === 0 ? 230 : 5].map((x) => x / 255),
              i % 3,
              encoding,
            ),
          );
        const set = buildAttesterSet({ keys: [derivePublicKey(attesterKeys[0]!)], depth: 1 });
        const plain = commitDataset({
          parameters: spec,
          records: small(12),
          privateKey: deviceKey,
        });
        const attestation = attestDataset({
          privateKey: attesterKeys[0]!,
          root: plain.tree.root,
          sampleCount: 12,
        });
        const d = { ...plain, attestation };
        const witness = async (input: object) => {
          const out = { type: "mem" } as { type: "mem" };
          await snarkjs.wtns.calculate(input as never, wasmPath, out);
        };
        const args = { context, minSamples: 4, featureMin, featureMax, classes: 3 };
        const { indices } = dataValidityInputs({ dataset: d, ...args, attesterSet: set });
        expect(indices).toHaveLength(samples);
        await witness(dataValidityInputs({ dataset: d, ...args, attesterSet: set }).input);
        await witness(dataValidityInputs({ dataset: d, ...args }).input);
        // Half the records out of the schema: with k ≥ 8 the challenge hits one.
        const bad = commitDataset({
          parameters: spec,
          records: small(12, true),
          privateKey: deviceKey,
        });
        await expect(
          witness(dataValidityInputs({ dataset: bad, ...args }).input),
        ).rejects.toThrow();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("a padded dataset at the default k = 8", () => {
  // Half the leaves out of the schema. Over many rounds (fresh challenge seeds), the real
  // witness generator must accept exactly when every challenged index lands on a valid leaf,
  // so the pass rate is the (1/2)^8 = 1/256 that circuits/README.md states; the TypeScript
  // index derivation is checked against the circuit on every seed, not assumed.
  it("proves only when every challenged record is valid: (1/2)^k per round", async () => {
    const dir = await mkdtemp(join(tmpdir(), "fedproof-dv-pad-"));
    try {
      const spec = {
        kind: "data-validity",
        depth: 5,
        features: 2,
        samples: 8,
        featureBits: 8,
        labelBits: 8,
        attesterDepth: 0,
      } as const satisfies CircuitSpec;
      const name = circuitName(spec);
      const { wasmPath } = await compileCircuit({
        name,
        mainSource: mainSource(spec),
        outDir: join(dir, name),
      });
      // Odd leaves valid, even leaves with a feature above the schema's maximum.
      const padded = commitDataset({
        parameters: spec,
        records: Array.from({ length: 32 }, (_, i) =>
          encodeRecord(
            [(i * 7) % 200, i % 2 === 0 ? 230 : 5].map((x) => x / 255),
            i % 3,
            encoding,
          ),
        ),
        privateKey: deviceKey,
      });
      const args = { minSamples: 4, featureMin, featureMax, classes: 3 };
      let passed = 0;
      const seeds = 40;
      for (let round = 1; round <= seeds; round++) {
        const ctx = { ...context, round, roundSeed: round.toString(16).padStart(64, "0") };
        const { input, indices } = dataValidityInputs({ dataset: padded, context: ctx, ...args });
        const allValid = indices.every((index) => index % 2 === 1);
        const out = { type: "mem" } as { type: "mem" };
        const ok = await snarkjs.wtns.calculate(input as never, wasmPath, out).then(
          () => true,
          () => false,
        );
        expect(ok).toBe(allValid);
        if (ok) passed++;
      }
      // Each round passes with probability 1/256; 40 rounds all failing is expected, and a
      // pass rate anywhere near half (k = 1) would show here.
      expect(passed).toBeLessThanOrEqual(2);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
