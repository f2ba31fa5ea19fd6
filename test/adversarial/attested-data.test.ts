import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { TEST_CIRCUITS } from "../../circuits/circuit-catalog.js";
import { parseDataValiditySignals } from "../../protocol/proofs/public-signals.js";
import {
  attestDataset,
  attesterSetToJson,
  buildAttesterSet,
  type DatasetAttestation,
} from "../../protocol/proving/attester-set.js";
import {
  commitDataset,
  type DatasetRecord,
  datasetTree,
} from "../../protocol/proving/dataset-commitment.js";
import { derivePublicKey, randomPrivateKey } from "../../protocol/proving/eddsa-poseidon.js";
import {
  encodeFieldElement,
  encodePublicKey,
  encodeSignature,
} from "../../protocol/proving/proof-codec.js";
import {
  joinProvingDevice,
  provenUpload,
  provingJobSpec,
  startProvingAdversarialCoordinator,
  testRecords,
} from "../harness/proving-device.js";
import { isServiceError, joinRawDevice } from "../harness/raw-device.js";

/**
 * Attested data through the public gRPC API: a job names a set of attester keys (its root is
 * in the spec, hence in the spec hash the chain registers), and every data proof must show
 * that a key of the set signed the device's dataset. One attested dataset enrols one device:
 * a second device with the same dataset is refused at Join (the commitment is public and equal
 * for every copy) and, should one get past Join, at its data proof (the nullifier is bound to
 * the first device whose proof showed it). A dataset signed by a key outside the set cannot
 * show the job's root, so its proof is refused and the device excluded.
 */
describe("attested data", () => {
  const target = startProvingAdversarialCoordinator("attested-data");
  const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

  /** An attester's signature over `records` as the test circuit encodes them. */
  function attest(privateKey: Uint8Array, records: DatasetRecord[]): DatasetAttestation {
    const { tree, sampleCount } = datasetTree({ parameters: TEST_CIRCUITS.dataValidity, records });
    return attestDataset({ privateKey, root: tree.root, sampleCount });
  }

  it("accepts attested data, refuses a second device with the same dataset and a key outside the set", async () => {
    const { coordinator, harness } = target;
    const { store, address } = coordinator;
    const attesterKeys = [randomPrivateKey(), randomPrivateKey(), randomPrivateKey()];
    const set = buildAttesterSet({
      keys: attesterKeys.map(derivePublicKey),
      depth: TEST_CIRCUITS.dataValidity.attesterDepth,
    });
    const job = await harness.jobs.createJob(
      provingJobSpec({
        attesters: attesterSetToJson(set),
        rounds: 2,
        clientsPerRound: 2,
        minClients: 1,
        minAvailableClients: 2,
        // Rounds close at their deadline here (one of two selected devices is refused), so it
        // must cover proving two contributions on a busy machine.
        roundDeadlineSeconds: 75,
      }),
    );
    expect((await store.getJob(job.jobId)).spec.attesters?.root).toBe(set.root.toString());
    const circuits = (await harness.jobs.jobCircuits(job.jobId))!;
    const circuitIds = {
      updateNorm: circuits.updateNorm.id,
      dataValidity: circuits.dataValidity.id,
    };

    const records = testRecords(40);
    const attestation = attest(attesterKeys[1]!, records);
    const honest = await joinProvingDevice(address, job.jobId, "honest", records, attestation);

    // The same attested dataset under another device (its own key, the attester's signature):
    // refused at Join, nothing stored for it.
    const copy = await joinProvingDevice(address, job.jobId, "copy", records, attestation).catch(
      (error: unknown) => error,
    );
    const commitment = hex(encodeFieldElement(honest.dataset.commitment));
    expect(isServiceError(copy) && copy.code).toBe(status.ALREADY_EXISTS);
    expect(isServiceError(copy) && copy.details).toBe(
      `dataset commitment ${commitment.slice(0, 12)}… is already enrolled by device honest in job ${job.jobId}: one dataset enrols one device per job`,
    );
    expect(await store.findDevice(job.jobId, "copy")).toBeUndefined();
    expect(await store.countDevices(job.jobId)).toBe(1);

    // A dataset signed by a key the job does not trust: the device can only prove membership
    // in a tree that holds that key, whose root is not the job's.
    const rogueKey = randomPrivateKey();
    const rogueSet = buildAttesterSet({
      keys: [derivePublicKey(rogueKey), derivePublicKey(attesterKeys[0]!)],
      depth: TEST_CIRCUITS.dataValidity.attesterDepth,
    });
    const rogueRecords = testRecords(41);
    const rogue = await joinProvingDevice(
      address,
      job.jobId,
      "rogue",
      rogueRecords,
      attest(rogueKey, rogueRecords),
    );
    let late: Awaited<ReturnType<typeof joinRawDevice>> | undefined;
    try {
      const { task: honestTask } = await honest.next("task", 60_000);
      const { task: rogueTask } = await rogue.next("task", 60_000);
      const before = await store.getJob(job.jobId);

      const [forged, upload] = await Promise.all([
        provenUpload({
          harness,
          task: rogueTask!,
          deviceId: "rogue",
          dataset: rogue.dataset,
          circuitIds,
          attesterSet: rogueSet,
        }),
        // The honest device proves that a key of the job's set signed its dataset.
        provenUpload({
          harness,
          task: honestTask!,
          deviceId: "honest",
          dataset: honest.dataset,
          circuitIds,
          attesterSet: set,
        }),
      ]);
      await rogue.submit(forged.header, forged.bytes);
      const reason = `proof rejected (SchemaMismatchError): the data-validity proof checks attester root ${rogueSet.root}, the job's is ${set.root}`;
      expect((await rogue.next("result", 60_000)).result).toMatchObject({
        accepted: false,
        reason: `${reason}; device rogue is excluded from the job`,
      });
      expect(await store.findExclusion(job.jobId, "rogue")).toMatchObject({ round: 1, reason });
      // Model, round and credits as before: nothing recorded for the rogue device.
      expect(await store.contributions(job.jobId, 1)).toEqual([]);
      expect(await store.getRound(job.jobId, 1)).toMatchObject({
        accepted: 0,
        rejected: 1,
        proofsVerified: 0,
        proofsRejected: 1,
      });
      expect((await store.getJob(job.jobId)).currentModelHash).toBe(before.currentModelHash);
      expect(await store.countNullifiers(job.jobId)).toBe(0);

      const dataSignals = parseDataValiditySignals(upload.header.proofs!.at(-1)!.publicSignals!);
      expect(dataSignals.attesterRoot).toBe(set.root);
      await honest.submit(upload.header, upload.bytes);
      expect((await honest.next("result", 60_000)).result).toMatchObject({
        accepted: true,
        reason: "",
      });
      expect((await store.contributions(job.jobId, 1)).map((c) => c.deviceId)).toEqual(["honest"]);
      expect(await store.countNullifiers(job.jobId)).toBe(1);

      // A second enrolment of the same dataset that got past Join (stored before the Join
      // check, say) is caught at its data proof: the nullifier already belongs to "honest".
      const privateKey = randomPrivateKey();
      const twin = commitDataset({
        parameters: TEST_CIRCUITS.dataValidity,
        records,
        privateKey,
        attestation,
      });
      const enrolment = {
        datasetCommitment: encodeFieldElement(twin.commitment),
        datasetSignature: encodeSignature(twin.signature),
      };
      await store.registerDevice(job.jobId, {
        deviceId: "twin",
        publicKey: hex(encodePublicKey(twin.publicKey)),
        datasetCommitment: hex(enrolment.datasetCommitment),
        datasetSignature: hex(enrolment.datasetSignature),
        samples: twin.sampleCount,
        platform: "",
        backend: "",
        payoutAddress: "",
        joinedAtMs: Date.now(),
      });
      late = await joinRawDevice(address, job.jobId, "twin", twin.sampleCount, {
        privateKey,
        ...enrolment,
      });

      // Round 1 closes at its deadline; round 2 picks the two eligible devices (rogue is out).
      const { task: second } = await honest.next("task", 90_000);
      expect(second!.round).toBe(2);
      expect((await store.selectedDevices(job.jobId, 2)).sort()).toEqual(["honest", "twin"]);
      const { task: twinTask } = await late.next("task", 60_000);
      const twinUpload = await provenUpload({
        harness,
        task: twinTask!,
        deviceId: "twin",
        dataset: twin,
        circuitIds,
        attesterSet: set,
      });
      const nullifier = parseDataValiditySignals(
        twinUpload.header.proofs!.at(-1)!.publicSignals!,
      ).nullifier;
      expect(nullifier).toBe(dataSignals.nullifier);
      await late.submit(twinUpload.header, twinUpload.bytes);
      const text = nullifier.toString();
      expect((await late.next("result", 60_000)).result).toMatchObject({
        accepted: false,
        reason: `proof rejected (DatasetMismatchError): the attested dataset (nullifier ${text.slice(0, 8)}…${text.slice(-6)}) already enrolled device honest in this job: one dataset enrols one device per job; device twin is excluded from the job`,
      });
      expect(await store.findExclusion(job.jobId, "twin")).toMatchObject({ round: 2 });

      // The honest device shows the same nullifier again and is accepted.
      const again = await provenUpload({
        harness,
        task: second!,
        deviceId: "honest",
        dataset: honest.dataset,
        circuitIds,
        attesterSet: set,
      });
      await honest.submit(again.header, again.bytes);
      expect((await honest.next("result", 60_000)).result).toMatchObject({ accepted: true });
      expect((await honest.next("ended", 90_000)).ended).toMatchObject({
        state: "JOB_STATE_COMPLETED",
      });
      expect((await store.contributions(job.jobId, 2)).map((c) => c.deviceId)).toEqual(["honest"]);
      expect(await store.countNullifiers(job.jobId)).toBe(1);
      expect(await store.deviceNullifier(job.jobId, "honest")).toBe(text);
    } finally {
      honest.close();
      rogue.close();
      late?.close();
    }
  }, 300_000);
});
