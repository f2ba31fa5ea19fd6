/**
 * Jobs with proofs over the real gRPC server, Redis and BullMQ verify worker, on the small
 * test circuits (chunk n = 64, DataValidity depth 6 with 8 features): an honest device is
 * accepted end to end, and every way of cheating the issue names is rejected with a precise
 * reason that the device and `job status` both see.
 */
import { readFile } from "node:fs/promises";
import { status } from "@grpc/grpc-js";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TEST_CIRCUITS } from "../circuits/circuit-catalog.js";
import { testCircuits } from "../circuits/test-circuits.js";
import { dataValidityInputs } from "../client/core/proving/data-validity-inputs.js";
import { releaseSnarkjsThreads } from "../client/core/proving/release-snarkjs.js";
import { joinJob, submitUpdate } from "../client/node/coordinator-client.js";
import { Device } from "../client/node/device.js";
import type { JobCircuitSpecs } from "../coordinator/jobs/job-circuits.js";
import { JobService } from "../coordinator/jobs/job-service.js";
import { createFedproofClients, unary } from "../proto/clients.js";
import type { ContributionResult__Output } from "../proto/generated/fedproof/v1/ContributionResult.js";
import type { ProofSetup__Output } from "../proto/generated/fedproof/v1/ProofSetup.js";
import type { RoundTask__Output } from "../proto/generated/fedproof/v1/RoundTask.js";
import type { TaskEvent__Output } from "../proto/generated/fedproof/v1/TaskEvent.js";
import type { UpdateHeader } from "../proto/generated/fedproof/v1/UpdateHeader.js";
import type { Dataset } from "../protocol/data/dataset.js";
import type { JobSpecInput } from "../protocol/job/job-spec.js";
import {
  type CommittedDataset,
  commitDataset,
  type DatasetRecord,
  encodeRecord,
} from "../protocol/proving/dataset-commitment.js";
import { randomPrivateKey } from "../protocol/proving/eddsa-poseidon.js";
import { randomFieldElement } from "../protocol/proving/field.js";
import type { KzgSrs } from "../protocol/proving/kzg.js";
import { encodeFieldElement, encodeSignature } from "../protocol/proving/proof-codec.js";
import { inThreadProver, type Prover } from "../protocol/proving/prove-groth16.js";
import { encodeKzgChunk, proveUpdate } from "../protocol/proving/prove-update-norm.js";
import { createRng } from "../protocol/random.js";
import { encodeUpdate, quantizedNormBound } from "../protocol/update/quantize.js";
import { startTestCoordinator, type TestCoordinator } from "./harness/coordinator.js";
import { isServiceError } from "./harness/raw-device.js";

const schema = { featureShape: [8], min: 0, max: 1, classes: 2 };
const testPlan = (): JobCircuitSpecs => ({
  updateNorm: TEST_CIRCUITS.updateNorm,
  dataValidity: TEST_CIRCUITS.dataValidity,
});

/** 40 records of 8 features in [0, 1], two classes: fits the depth-6 test tree. */
function localData(seed: number, size = 40): Dataset {
  const rng = createRng(seed);
  const x = new Float32Array(size * 8);
  const y = new Int32Array(size);
  for (let i = 0; i < size; i++) {
    y[i] = i % 2;
    for (let f = 0; f < 8; f++)
      x[i * 8 + f] = Math.min(1, Math.max(0, 0.3 * y[i]! + rng.next() * 0.7));
  }
  return { schema, x, y, size };
}

function records(data: Dataset, featureScale: number): DatasetRecord[] {
  return Array.from({ length: data.size }, (_, i) =>
    encodeRecord(data.x.subarray(i * 8, (i + 1) * 8), data.y[i]!, {
      featureScale,
      min: schema.min,
      max: schema.max,
    }),
  );
}

describe("jobs with proofs", () => {
  let coordinator: TestCoordinator;
  let jobs: JobService;
  let updateProver: Prover;
  let dataProver: Prover;
  let srs: KzgSrs;

  beforeAll(async () => {
    const built = await testCircuits();
    srs = built.srs;
    updateProver = inThreadProver({
      wasm: new Uint8Array(await readFile(built.updateNorm.wasmPath)),
      zkey: new Uint8Array(await readFile(built.updateNorm.zkeyPath)),
    });
    dataProver = inThreadProver({
      wasm: new Uint8Array(await readFile(built.dataValidity.wasmPath)),
      zkey: new Uint8Array(await readFile(built.dataValidity.zkeyPath)),
    });
    coordinator = await startTestCoordinator("proofs");
    // The coordinator's own JobService uses the production circuits; this one the test ones.
    jobs = new JobService({
      store: coordinator.store,
      artifacts: coordinator.artifacts,
      engine: coordinator.engine,
      proofs: { plan: testPlan },
      logger: pino({ level: "silent" }),
    });
  }, 300_000);

  afterAll(async () => {
    await coordinator?.dispose();
    await releaseSnarkjsThreads();
  });

  const createJob = (spec: Partial<JobSpecInput> = {}) =>
    jobs.createJob({
      model: "logreg",
      schema,
      proofs: true,
      clientsPerRound: 1,
      minClients: 1,
      overSelection: 1,
      rounds: 1,
      clipNorm: 1,
      // The small test circuit opens two records per round.
      dataSpotChecks: TEST_CIRCUITS.dataValidity.samples,
      ...spec,
    });

  /** A device driven by hand: enrols with `signer`'s key, proves with whatever a test gives. */
  async function rawProvingDevice(jobId: string, deviceId: string, seed: number) {
    const clients = createFedproofClients(coordinator.address);
    const setup = await unary<ProofSetup__Output>((cb) =>
      clients.coordinator.getProofSetup({ jobId }, cb),
    );
    const privateKey = randomPrivateKey();
    const dataset = commitDataset({
      parameters: TEST_CIRCUITS.dataValidity,
      records: records(localData(seed), setup.featureScale),
      privateKey,
    });
    const session = await joinJob(clients.coordinator, {
      jobId,
      deviceId,
      privateKey,
      samples: dataset.sampleCount,
      datasetCommitment: encodeFieldElement(dataset.commitment),
      datasetSignature: encodeSignature(dataset.signature),
    });
    const events: TaskEvent__Output[] = [];
    const stream = clients.coordinator.tasks({ sessionToken: session.sessionToken });
    stream.on("data", (event: TaskEvent__Output) => events.push(event));
    stream.on("error", () => {});
    const take = async (round: number, pick: (e: TaskEvent__Output) => boolean) => {
      for (const deadline = Date.now() + 60_000; Date.now() < deadline; ) {
        const index = events.findIndex(pick);
        if (index >= 0) return events.splice(index, 1)[0]!;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      throw new Error(`${deviceId}: nothing for round ${round}`);
    };
    function next(kind: "task", round: number): Promise<RoundTask__Output>;
    function next(kind: "result", round: number): Promise<ContributionResult__Output>;
    async function next(kind: "task" | "result", round: number) {
      const event = await take(round, (e) => e[kind]?.round === round);
      return event[kind]!;
    }
    return {
      setup,
      dataset,
      deviceId,
      next,
      submit: (header: Omit<UpdateHeader, "sessionToken">, bytes: Uint8Array) =>
        submitUpdate(clients.coordinator, { ...header, sessionToken: session.sessionToken }, bytes),
      close() {
        stream.cancel();
        clients.close();
      },
    };
  }

  /** An honest contribution for `task` by `deviceId`, proving over `dataset`. */
  async function honestUpload(
    task: RoundTask__Output,
    deviceId: string,
    dataset: CommittedDataset,
    minSamples: number,
  ) {
    const q = new Int32Array(Number(task.paramCount));
    for (let i = 0; i < q.length; i++) q[i] = ((i * 37) % 201) - 100;
    const salt = randomFieldElement();
    const context = {
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
      srs,
      prover: updateProver,
    });
    const data = await dataProver(
      dataValidityInputs({
        dataset,
        context,
        minSamples,
        featureMin: 0n,
        featureMax: 255n,
        classes: schema.classes,
      }).input,
    );
    const setup = await jobsSetup(task.jobId);
    const proofs = [
      ...update.proofs.map((p) => ({
        circuitId: setup.updateNorm!.circuitId,
        proofJson: JSON.stringify(p.proof),
        publicSignals: p.publicSignals,
      })),
      {
        circuitId: setup.dataValidity!.circuitId,
        proofJson: JSON.stringify(data.proof),
        publicSignals: data.publicSignals,
      },
    ];
    const header = {
      jobId: task.jobId,
      round: task.round,
      globalModelHash: task.globalModelHash,
      samples: dataset.sampleCount,
      paramCount: task.paramCount,
      bits: task.quantization!.bits,
      commitment: encodeFieldElement(update.commitment),
      salt: encodeFieldElement(salt),
      proofs,
      kzg: update.kzg.map(encodeKzgChunk),
    };
    return {
      header,
      bytes: encodeUpdate(q, task.quantization!.bits),
      commitment: update.commitment,
    };
  }

  async function jobsSetup(jobId: string): Promise<ProofSetup__Output> {
    const clients = createFedproofClients(coordinator.address);
    try {
      return await unary<ProofSetup__Output>((cb) =>
        clients.coordinator.getProofSetup({ jobId }, cb),
      );
    } finally {
      clients.close();
    }
  }

  it("accepts an honest device's proven update end to end and records its commitment", async () => {
    const job = await createJob();
    const circuits = await jobs.jobCircuits(job.jobId);
    expect(circuits?.updateNorm.id).toMatch(/^update-norm-n64-b16-/);
    expect(circuits?.vkeyHash).toMatch(/^0x[0-9a-f]{64}$/);
    const device = new Device({
      address: coordinator.address,
      jobId: job.jobId,
      deviceId: "honest",
      data: localData(1),
      seed: 1,
      logger: pino({ level: "silent" }),
    });
    const result = await device.run();
    expect(result.jobState).toBe("JOB_STATE_COMPLETED");
    expect(result.rounds[0]).toMatchObject({ round: 1, accepted: true });
    expect(result.rounds[0]!.proveSeconds).toBeGreaterThan(0);
    const [contribution] = await coordinator.store.contributions(job.jobId, 1);
    expect(contribution?.deviceId).toBe("honest");
    expect(contribution?.commitment).toMatch(/^[0-9a-f]{64}$/);
    // One chunk (18 parameters ≤ 64) plus the data proof.
    expect(contribution?.proofs.map((p) => p.circuitId)).toEqual([
      circuits!.updateNorm.id,
      circuits!.dataValidity.id,
    ]);
    expect(contribution?.metrics.proveSeconds).toBeGreaterThan(0);
    const info = await jobs.describeJob(job.jobId);
    expect(info.rounds?.[0]).toMatchObject({ accepted: 1, proofsVerified: 1, proofsRejected: 0 });
  }, 180_000);

  it("rejects an upload with one byte changed: commitment mismatch, shown by job status", async () => {
    const job = await createJob({ roundDeadlineSeconds: 600 });
    const device = await rawProvingDevice(job.jobId, "flipper", 2);
    try {
      const task = await device.next("task", 1);
      const upload = await honestUpload(task, device.deviceId, device.dataset, 1);
      const bytes = upload.bytes.slice();
      bytes[0] ^= 1;
      await device.submit(upload.header, bytes);
      const result = await device.next("result", 1);
      expect(result.accepted).toBe(false);
      expect(result.reason).toMatch(
        /CommitmentMismatchError.*do not match the commitment of chunk 0/,
      );
      const info = await jobs.describeJob(job.jobId);
      expect(info.rounds?.[0]?.rejections).toEqual([
        expect.objectContaining({ deviceId: "flipper", reason: result.reason }),
      ]);
      expect(info.rounds?.[0]).toMatchObject({ accepted: 0, rejected: 1, proofsRejected: 1 });
      expect(await coordinator.store.contributions(job.jobId, 1)).toEqual([]);
    } finally {
      device.close();
    }
  }, 120_000);

  it("rejects an update sent without proofs", async () => {
    const job = await createJob({ roundDeadlineSeconds: 600 });
    const device = await rawProvingDevice(job.jobId, "no-proofs", 3);
    try {
      const task = await device.next("task", 1);
      const upload = await honestUpload(task, device.deviceId, device.dataset, 1);
      await device.submit({ ...upload.header, proofs: [], salt: undefined }, upload.bytes);
      const result = await device.next("result", 1);
      expect(result).toMatchObject({ accepted: false });
      expect(result.reason).toMatch(/ProofMissingError.*carries none/);
    } finally {
      device.close();
    }
  }, 120_000);

  it("rejects a proof replayed in the next round", async () => {
    const job = await createJob({ rounds: 2, roundDeadlineSeconds: 600 });
    const device = await rawProvingDevice(job.jobId, "replayer", 4);
    try {
      const first = await device.next("task", 1);
      const upload = await honestUpload(first, device.deviceId, device.dataset, 1);
      await device.submit(upload.header, upload.bytes);
      expect(await device.next("result", 1)).toMatchObject({ accepted: true });
      const second = await device.next("task", 2);
      expect(second.globalModelHash).not.toBe(first.globalModelHash);
      // The same proofs, bytes and salt, presented as round 2's contribution.
      await device.submit(
        { ...upload.header, round: 2, globalModelHash: second.globalModelHash },
        upload.bytes,
      );
      const result = await device.next("result", 2);
      expect(result.accepted).toBe(false);
      expect(result.reason).toMatch(/ContextMismatchError.*chunk proof 0 is bound to another/);
    } finally {
      device.close();
    }
  }, 180_000);

  it("rejects a proof replayed by another device", async () => {
    const job = await createJob({ clientsPerRound: 2, minClients: 2, roundDeadlineSeconds: 600 });
    const owner = await rawProvingDevice(job.jobId, "owner", 5);
    const copier = await rawProvingDevice(job.jobId, "copier", 6);
    try {
      const task = await owner.next("task", 1);
      await copier.next("task", 1);
      const upload = await honestUpload(task, owner.deviceId, owner.dataset, 1);
      await copier.submit(upload.header, upload.bytes);
      const result = await copier.next("result", 1);
      expect(result.accepted).toBe(false);
      expect(result.reason).toMatch(/ContextMismatchError/);
      await owner.submit(upload.header, upload.bytes);
      expect(await owner.next("result", 1)).toMatchObject({ accepted: true });
    } finally {
      owner.close();
      copier.close();
    }
  }, 180_000);

  it("rejects a dataset signed by a key other than the registered one", async () => {
    const job = await createJob({ roundDeadlineSeconds: 600 });
    const device = await rawProvingDevice(job.jobId, "key-swapper", 7);
    try {
      const task = await device.next("task", 1);
      // The same records, committed and signed under a key the device never registered.
      const foreign = commitDataset({
        parameters: TEST_CIRCUITS.dataValidity,
        records: device.dataset.records,
        privateKey: randomPrivateKey(),
      });
      const upload = await honestUpload(task, device.deviceId, foreign, 1);
      await device.submit(upload.header, upload.bytes);
      const result = await device.next("result", 1);
      expect(result.accepted).toBe(false);
      expect(result.reason).toMatch(/UnregisteredKeyError.*key the device did not register/);
    } finally {
      device.close();
    }
  }, 120_000);

  it("refuses at Join a dataset commitment signed by another key than the one registered", async () => {
    const job = await createJob();
    const clients = createFedproofClients(coordinator.address);
    try {
      const setup = await jobsSetup(job.jobId);
      const signed = commitDataset({
        parameters: TEST_CIRCUITS.dataValidity,
        records: records(localData(8), setup.featureScale),
        privateKey: randomPrivateKey(),
      });
      // The impostor signs its Join with its own key, and presents another key's dataset.
      const join = joinJob(clients.coordinator, {
        jobId: job.jobId,
        deviceId: "impostor",
        privateKey: randomPrivateKey(),
        samples: signed.sampleCount,
        datasetCommitment: encodeFieldElement(signed.commitment),
        datasetSignature: encodeSignature(signed.signature),
      });
      const error = await join.catch((e: unknown) => e);
      expect(isServiceError(error) && error.code).toBe(status.PERMISSION_DENIED);
      expect(isServiceError(error) && error.details).toMatch(/dataset signature does not verify/);
    } finally {
      clients.close();
    }
  });
});
