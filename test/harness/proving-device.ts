/**
 * Devices of a job with proofs driven by hand over the real gRPC API, on the small test
 * circuits (chunk n = 64, DataValidity depth 6 with 8 features, k = 2): they enrol a dataset a
 * test chooses record by record, and prove each round's contribution honestly or with the data
 * proof bound to whatever context value an attack computes.
 */
import { readFile } from "node:fs/promises";
import pino from "pino";
import type { CircuitInput } from "snarkjs";
import { TEST_CIRCUITS } from "../../circuits/circuit-catalog.js";
import { testCircuits } from "../../circuits/test-circuits.js";
import { dataValidityInputs } from "../../client/core/proving/data-validity-inputs.js";
import { releaseSnarkjsThreads } from "../../client/core/proving/release-snarkjs.js";
import type { JobCircuitSpecs } from "../../coordinator/jobs/job-circuits.js";
import { JobService } from "../../coordinator/jobs/job-service.js";
import type { RoundTask__Output } from "../../proto/generated/fedproof/v1/RoundTask.js";
import type { UpdateHeader } from "../../proto/generated/fedproof/v1/UpdateHeader.js";
import type { JobSpecInput } from "../../protocol/job/job-spec.js";
import type { AttesterSet, DatasetAttestation } from "../../protocol/proving/attester-set.js";
import {
  type CommittedDataset,
  commitDataset,
  type DatasetRecord,
  encodeRecord,
  merkleSiblings,
  sampledIndices,
  schemaBounds,
} from "../../protocol/proving/dataset-commitment.js";
import { randomPrivateKey } from "../../protocol/proving/eddsa-poseidon.js";
import { featureScaleFor } from "../../protocol/proving/feature-scale.js";
import { randomFieldElement, toField } from "../../protocol/proving/field.js";
import type { KzgSrs } from "../../protocol/proving/kzg.js";
import {
  encodeFieldElement,
  encodePublicKey,
  encodeSignature,
} from "../../protocol/proving/proof-codec.js";
import type { ProofContextParameters } from "../../protocol/proving/proof-context.js";
import {
  inThreadProver,
  type ProofWithSignals,
  type Prover,
} from "../../protocol/proving/prove-groth16.js";
import {
  type ChunkKzgUpload,
  encodeKzgChunk,
  proveUpdate,
} from "../../protocol/proving/prove-update-norm.js";
import { encodeUpdate, quantizedNormBound } from "../../protocol/update/quantize.js";
import {
  type AdversarialCoordinator,
  startAdversarialCoordinator,
  started,
} from "./adversarial-coordinator.js";
import type { TestCoordinator } from "./coordinator.js";
import { joinRawDevice } from "./raw-device.js";

/** Records of 8 features in [0, 1], two classes: what the test circuits check. */
export const PROVING_SCHEMA = { featureShape: [8], min: 0, max: 1, classes: 2 };

const FEATURE_SCALE = featureScaleFor(PROVING_SCHEMA, TEST_CIRCUITS.dataValidity.featureBits);

/** A job with proofs on the test circuits; `spec` overrides the defaults. */
export const provingJobSpec = (spec: Partial<JobSpecInput> = {}): JobSpecInput => ({
  model: "logreg",
  schema: PROVING_SCHEMA,
  proofs: true,
  clientsPerRound: 1,
  minClients: 1,
  overSelection: 1,
  rounds: 1,
  clipNorm: 1,
  dataSpotChecks: TEST_CIRCUITS.dataValidity.samples,
  ...spec,
});

export interface ProvingHarness {
  /** A JobService on the coordinator's store that builds jobs on the test circuits. */
  jobs: JobService;
  updateProver: Prover;
  dataProver: Prover;
  /** The test chunk's KZG SRS, from the development ptau the job's keys were set up with. */
  srs: KzgSrs;
}

export async function provingHarness(coordinator: TestCoordinator): Promise<ProvingHarness> {
  const built = await testCircuits();
  const load = async (circuit: { wasmPath: string; zkeyPath: string }) =>
    inThreadProver({
      wasm: new Uint8Array(await readFile(circuit.wasmPath)),
      zkey: new Uint8Array(await readFile(circuit.zkeyPath)),
    });
  const plan = (): JobCircuitSpecs => ({
    updateNorm: TEST_CIRCUITS.updateNorm,
    dataValidity: TEST_CIRCUITS.dataValidity,
  });
  return {
    jobs: new JobService({
      store: coordinator.store,
      artifacts: coordinator.artifacts,
      engine: coordinator.engine,
      proofs: { plan },
      logger: pino({ level: "silent" }),
    }),
    updateProver: await load(built.updateNorm),
    dataProver: await load(built.dataValidity),
    srs: built.srs,
  };
}

export interface ProvingAdversarialCoordinator extends AdversarialCoordinator {
  readonly harness: ProvingHarness;
}

/**
 * `startAdversarialCoordinator` for attacks on jobs with proofs: the test circuits are built
 * (minutes on a loaded 2-core machine) before the tests, snarkjs's threads released after them.
 */
export function startProvingAdversarialCoordinator(name: string): ProvingAdversarialCoordinator {
  let harness: ProvingHarness | undefined;
  const target = startAdversarialCoordinator(
    name,
    {},
    {
      setup: async (coordinator) => {
        harness = await provingHarness(coordinator);
      },
      teardown: releaseSnarkjsThreads,
      setupTimeoutMs: 300_000,
    },
  );
  return {
    get coordinator() {
      return target.coordinator;
    },
    get redis() {
      return target.redis;
    },
    get clients() {
      return target.clients;
    },
    get harness() {
      return started(harness, "proving harness");
    },
  };
}

/**
 * `count` records; record i carries label `label(i)` (default i % 2). A label ≥ the schema's two
 * classes makes a record the circuit refuses wherever it is opened.
 */
export function testRecords(count: number, label = (i: number) => i % 2): DatasetRecord[] {
  return Array.from({ length: count }, (_, i) =>
    encodeRecord(
      Array.from({ length: 8 }, (_, f) => ((i * 8 + f) % 10) / 10),
      label(i),
      { featureScale: FEATURE_SCALE, min: PROVING_SCHEMA.min, max: PROVING_SCHEMA.max },
    ),
  );
}

/**
 * Enrols `records` under a fresh key (the key signs both the dataset and the Join), with an
 * attester's signature over them when `attestation` is given.
 */
export async function joinProvingDevice(
  address: string,
  jobId: string,
  deviceId: string,
  records: DatasetRecord[],
  attestation?: DatasetAttestation,
) {
  const privateKey = randomPrivateKey();
  const dataset = commitDataset({
    parameters: TEST_CIRCUITS.dataValidity,
    records,
    privateKey,
    ...(attestation ? { attestation } : {}),
  });
  const device = await joinRawDevice(address, jobId, deviceId, dataset.sampleCount, {
    privateKey,
    datasetCommitment: encodeFieldElement(dataset.commitment),
    datasetSignature: encodeSignature(dataset.signature),
  });
  return { ...device, deviceId, dataset, publicKey: encodePublicKey(dataset.publicKey) };
}

export interface ProvenUploadParameters {
  harness: ProvingHarness;
  task: RoundTask__Output;
  deviceId: string;
  dataset: CommittedDataset;
  /** The job's circuit ids (JobService.jobCircuits). */
  circuitIds: { updateNorm: string; dataValidity: string };
  /**
   * The context value the data proof is made for, when a test makes it for another than the
   * round's: its witness opens the records this context challenges.
   */
  dataContext?: bigint;
  /** Changes the data proof after it was made (a forged public signal, say). */
  tamperData?: (proof: ProofWithSignals) => ProofWithSignals;
  /** The attester set the data proof shows membership in (attested mode); none: self-attested. */
  attesterSet?: AttesterSet;
  /** The job schema's class count, when a test widens it (more classes, more parameters). */
  classes?: number;
  /** Changes the chunks' KZG fields after they were made (a swapped commitment, say). */
  tamperKzg?: (kzg: ChunkKzgUpload[]) => ChunkKzgUpload[];
}

/** An upload for `task`: a small update's chunk proofs and the data proof, header and bytes. */
export async function provenUpload(parameters: ProvenUploadParameters) {
  const { harness, task, deviceId, dataset, circuitIds } = parameters;
  const q = new Int32Array(Number(task.paramCount));
  for (let i = 0; i < q.length; i++) q[i] = ((i * 37) % 201) - 100;
  const salt = randomFieldElement();
  const context: ProofContextParameters = {
    jobId: task.jobId,
    round: task.round,
    globalModelHash: task.globalModelHash,
    deviceId,
    roundSeed: task.challengeSeed,
  };
  const update = await proveUpdate({
    q,
    circuit: { n: TEST_CIRCUITS.updateNorm.n, bits: TEST_CIRCUITS.updateNorm.bits },
    salt,
    context,
    c2: quantizedNormBound(task.clipNorm, task.quantization!.scale),
    srs: harness.srs,
    prover: harness.updateProver,
  });
  const kzg = parameters.tamperKzg ? parameters.tamperKzg(update.kzg) : update.kzg;
  const bounds = schemaBounds({
    featureScale: FEATURE_SCALE,
    min: PROVING_SCHEMA.min,
    max: PROVING_SCHEMA.max,
  });
  const { input } = dataValidityInputs({
    dataset,
    context,
    minSamples: 1,
    featureMin: bounds.featureMin,
    featureMax: bounds.featureMax,
    classes: parameters.classes ?? PROVING_SCHEMA.classes,
    ...(parameters.attesterSet ? { attesterSet: parameters.attesterSet } : {}),
  });
  const proved = await harness.dataProver(
    parameters.dataContext === undefined
      ? input
      : openedFor(input, dataset, parameters.dataContext),
  );
  const data = parameters.tamperData ? parameters.tamperData(proved) : proved;
  const header: Omit<UpdateHeader, "sessionToken"> = {
    jobId: task.jobId,
    round: task.round,
    globalModelHash: task.globalModelHash,
    samples: dataset.sampleCount,
    paramCount: task.paramCount,
    bits: task.quantization!.bits,
    commitment: encodeFieldElement(update.commitment),
    salt: encodeFieldElement(salt),
    proofs: [
      ...update.proofs.map((p) => ({
        circuitId: circuitIds.updateNorm,
        proofJson: JSON.stringify(p.proof),
        publicSignals: p.publicSignals,
      })),
      {
        circuitId: circuitIds.dataValidity,
        proofJson: JSON.stringify(data.proof),
        publicSignals: data.publicSignals,
      },
    ],
    kzg: kzg.map(encodeKzgChunk),
  };
  return {
    header,
    bytes: encodeUpdate(q, task.quantization!.bits),
    // What an attack needs to re-prove a chunk of the same update.
    q,
    salt,
    context,
    kzg,
  };
}

/** The witness input with another context: the records that context challenges, opened. */
function openedFor(input: CircuitInput, dataset: CommittedDataset, context: bigint): CircuitInput {
  const indices = sampledIndices(context, dataset.sampleCount, dataset.parameters.samples);
  return {
    ...input,
    context: context.toString(),
    values: indices.map((i) => dataset.records[i]!.values.map((v) => toField(v).toString())),
    labels: indices.map((i) => BigInt(dataset.records[i]!.label).toString()),
    siblings: indices.map((i) => merkleSiblings(dataset.tree, i).map(String)),
  };
}
