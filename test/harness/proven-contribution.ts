/**
 * Real proofs for the chain fixture's contributions, on the small test circuits: a device's
 * committed, signed dataset (its enrolment) and, per round, its UpdateNorm chunk proofs and its
 * DataValidity proof, as an honest device would send them — or with whatever a test changes.
 */
import { readFile } from "node:fs/promises";
import type { CircuitArtifacts } from "../../circuits/build.js";
import { TEST_CIRCUITS } from "../../circuits/circuit-catalog.js";
import { testCircuits } from "../../circuits/test-circuits.js";
import { dataValidityInputs } from "../../client/core/proving/data-validity-inputs.js";
import type { JobSpec } from "../../protocol/job/job-spec.js";
import type { VerificationKeys } from "../../protocol/provenance/job-vkey-hash.js";
import type { ProofRecord } from "../../protocol/provenance/round-leaves.js";
import {
  type CommittedDataset,
  commitDataset,
  encodeRecord,
  schemaBounds,
} from "../../protocol/proving/dataset-commitment.js";
import { randomPrivateKey } from "../../protocol/proving/eddsa-poseidon.js";
import { featureScaleFor } from "../../protocol/proving/feature-scale.js";
import {
  encodeFieldElement,
  encodePublicKey,
  encodeSignature,
} from "../../protocol/proving/proof-codec.js";
import { inThreadProver, type Prover } from "../../protocol/proving/prove-groth16.js";
import { proveUpdate } from "../../protocol/proving/prove-update-norm.js";
import { createRng } from "../../protocol/random.js";
import type { FixtureEnrolment } from "./chain-fixture.js";

/** The spec fields a proven fixture job needs: records of 8 features in [0, 1], two classes. */
export const PROVEN_SCHEMA = { featureShape: [8], min: 0, max: 1, classes: 2 };

export interface ProvingFixture {
  updateNorm: CircuitArtifacts;
  dataValidity: CircuitArtifacts;
  /** Both keys by circuit id, as the job pins them. */
  verificationKeys: VerificationKeys;
  /** A device's dataset of `size` records under a fresh key, and its enrolment as stored. */
  enrol(seed: number, size?: number): { dataset: CommittedDataset; enrolment: FixtureEnrolment };
  prove(parameters: ProveContributionParameters): Promise<ProvenContribution>;
}

export interface ProveContributionParameters {
  spec: Pick<JobSpec, "minSamples" | "schema">;
  jobId: string;
  round: number;
  /** sha256 hex of the round's parent model. */
  parentHash: string;
  /** The round's challenge seed (chain-fixture.ts `fixtureChallengeChain`). */
  roundSeed: string;
  deviceId: string;
  q: Int32Array;
  /** The bound the chunk proofs are made against (an honest device uses the round's). */
  c2: bigint;
  dataset: CommittedDataset;
}

export interface ProvenContribution {
  /** The chunk proofs in order, then the data proof. */
  proofs: ProofRecord[];
  /** Hex of the Poseidon commitment, 64 digits, as the coordinator records it. */
  commitment: string;
  /** Per chunk, the KZG commitment and opening (G1Hex), as the verify worker records them. */
  kzgCommitments: string[];
  kzgOpenings: string[];
}

let fixture: Promise<ProvingFixture> | undefined;

export function provingFixture(): Promise<ProvingFixture> {
  fixture ??= (async () => {
    const { updateNorm, dataValidity, srs } = await testCircuits();
    const load = async (circuit: CircuitArtifacts): Promise<Prover> =>
      inThreadProver({
        wasm: new Uint8Array(await readFile(circuit.wasmPath)),
        zkey: new Uint8Array(await readFile(circuit.zkeyPath)),
      });
    const updateProver = await load(updateNorm);
    const dataProver = await load(dataValidity);
    const featureScale = featureScaleFor(PROVEN_SCHEMA, TEST_CIRCUITS.dataValidity.featureBits);
    return {
      updateNorm,
      dataValidity,
      verificationKeys: {
        [updateNorm.id]: updateNorm.verificationKey,
        [dataValidity.id]: dataValidity.verificationKey,
      },
      enrol(seed, size = 40) {
        const rng = createRng(seed);
        const records = Array.from({ length: size }, (_, i) =>
          encodeRecord(
            Array.from({ length: 8 }, () => rng.next()),
            i % 2,
            { featureScale, min: PROVEN_SCHEMA.min, max: PROVEN_SCHEMA.max },
          ),
        );
        const dataset = commitDataset({
          parameters: TEST_CIRCUITS.dataValidity,
          records,
          privateKey: randomPrivateKey(),
        });
        const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
        return {
          dataset,
          enrolment: {
            publicKey: hex(encodePublicKey(dataset.publicKey)),
            datasetCommitment: hex(encodeFieldElement(dataset.commitment)),
            datasetSignature: hex(encodeSignature(dataset.signature)),
            samples: dataset.sampleCount,
          },
        };
      },
      async prove(parameters) {
        const context = {
          jobId: parameters.jobId,
          round: parameters.round,
          globalModelHash: parameters.parentHash,
          deviceId: parameters.deviceId,
          roundSeed: parameters.roundSeed,
        };
        const update = await proveUpdate({
          q: parameters.q,
          circuit: { n: TEST_CIRCUITS.updateNorm.n, bits: TEST_CIRCUITS.updateNorm.bits },
          salt: BigInt(parameters.round * 1000 + parameters.q.length),
          context,
          c2: parameters.c2,
          srs,
          prover: updateProver,
        });
        const bounds = schemaBounds({
          featureScale: featureScaleFor(parameters.spec.schema, 8),
          min: parameters.spec.schema.min,
          max: parameters.spec.schema.max,
        });
        const data = await dataProver(
          dataValidityInputs({
            dataset: parameters.dataset,
            context,
            minSamples: parameters.spec.minSamples,
            featureMin: bounds.featureMin,
            featureMax: bounds.featureMax,
            classes: parameters.spec.schema.classes,
          }).input,
        );
        const record = (circuitId: string, p: { proof: unknown; publicSignals: string[] }) => ({
          circuitId,
          proofJson: JSON.stringify(p.proof),
          publicSignals: p.publicSignals,
        });
        return {
          proofs: [
            ...update.proofs.map((p) => record(updateNorm.id, p)),
            record(dataValidity.id, data),
          ],
          commitment: update.commitment.toString(16).padStart(64, "0"),
          kzgCommitments: update.kzg.map((k) => k.commitment),
          kzgOpenings: update.kzg.map((k) => k.opening),
        };
      },
    };
  })();
  return fixture;
}
