import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { sampledIndices } from "../../protocol/proving/dataset-commitment.js";
import { poseidonHash } from "../../protocol/proving/poseidon.js";
import { encodeFieldElement, encodeSignature } from "../../protocol/proving/proof-codec.js";
import { contextValue, DATA_VALIDITY_INDEX } from "../../protocol/proving/proof-context.js";
import {
  joinProvingDevice,
  provenUpload,
  provingJobSpec,
  startProvingAdversarialCoordinator,
  testRecords,
} from "../harness/proving-device.js";
import { isServiceError, joinRawDevice } from "../harness/raw-device.js";

/**
 * A device whose data proof fails once is out of the job. Left in, a device with mostly invalid
 * records could try every round until the spot check happened to open only its good ones (or
 * keep sending forged proofs); excluded, it is never selected again and cannot come back under
 * its id. Here the device holds 8 valid records of 64: it grinds a context whose challenge opens
 * only valid ones, proves for it, and relabels the proof's context as the round's.
 */
describe("data-proof exclusion", () => {
  const target = startProvingAdversarialCoordinator("data-proof-exclusion");

  it("refuses the proof, then never selects the device again and refuses its Join and upload", async () => {
    const { coordinator, harness } = target;
    const { store, address } = coordinator;
    const job = await harness.jobs.createJob(
      provingJobSpec({
        rounds: 2,
        clientsPerRound: 2,
        minClients: 1,
        minAvailableClients: 2,
        roundDeadlineSeconds: 60,
      }),
    );
    const circuits = (await harness.jobs.jobCircuits(job.jobId))!;
    const circuitIds = {
      updateNorm: circuits.updateNorm.id,
      dataValidity: circuits.dataValidity.id,
    };
    const honest = await joinProvingDevice(address, job.jobId, "honest", testRecords(40));
    const cheater = await joinProvingDevice(
      address,
      job.jobId,
      "cheater",
      testRecords(64, (i) => (i % 8 === 0 ? i % 2 : 7)),
    );
    let late: Awaited<ReturnType<typeof joinProvingDevice>> | undefined;
    try {
      const { task: honestTask } = await honest.next("task");
      const { task } = await cheater.next("task");
      // Joins after round 1 picked its devices: round 2 has two devices besides the cheater.
      // Its own records: one dataset enrols one device per job.
      late = await joinProvingDevice(address, job.jobId, "late", testRecords(42));

      const real = contextValue(
        {
          jobId: job.jobId,
          round: 1,
          globalModelHash: task!.globalModelHash,
          deviceId: "cheater",
          roundSeed: task!.challengeSeed,
        },
        DATA_VALIDITY_INDEX,
      );
      let ground = real;
      for (let attempt = 0n; !sampledIndices(ground, 64, 2).every((i) => i % 8 === 0); attempt++)
        ground = poseidonHash([real, attempt]);
      const forged = await provenUpload({
        harness,
        task: task!,
        deviceId: "cheater",
        dataset: cheater.dataset,
        circuitIds,
        dataContext: ground,
        tamperData: (proof) => ({
          ...proof,
          publicSignals: [real.toString(), ...proof.publicSignals.slice(1)],
        }),
      });
      await cheater.submit(forged.header, forged.bytes);
      const { result } = await cheater.next("result", 60_000);
      expect(result).toMatchObject({
        accepted: false,
        reason:
          "proof rejected (ProofInvalidError): the data validity proof does not verify; device cheater is excluded from the job",
      });
      expect(await store.findExclusion(job.jobId, "cheater")).toMatchObject({
        round: 1,
        reason: "proof rejected (ProofInvalidError): the data validity proof does not verify",
      });

      const upload = await provenUpload({
        harness,
        task: honestTask!,
        deviceId: "honest",
        dataset: honest.dataset,
        circuitIds,
      });
      await honest.submit(upload.header, upload.bytes);
      expect((await honest.next("result", 60_000)).result).toMatchObject({ accepted: true });

      // Round 1 closes at its deadline with the honest update; round 2 picks from the devices
      // online, the cheater among them, and leaves it out.
      const { task: second } = await honest.next("task", 90_000);
      expect(second!.round).toBe(2);
      expect(await store.selectedDevices(job.jobId, 2).then((ids) => ids.sort())).toEqual([
        "honest",
        "late",
      ]);
      expect(await store.getRound(job.jobId, 1)).toMatchObject({ accepted: 1, rejected: 1 });
      await expect(cheater.next("task", 1_000)).rejects.toThrow(/no task event/);

      const denied = `device cheater is excluded from job ${job.jobId}: data proof failed in round 1`;
      const refusedUpload = await cheater
        .submit(
          { ...forged.header, round: 2, globalModelHash: second!.globalModelHash },
          forged.bytes,
        )
        .catch((error: unknown) => error);
      expect(isServiceError(refusedUpload) && refusedUpload.code).toBe(status.PERMISSION_DENIED);
      expect(isServiceError(refusedUpload) && refusedUpload.details).toBe(denied);
      const rejoin = await joinRawDevice(address, job.jobId, "cheater", 64, {
        privateKey: cheater.privateKey,
        datasetCommitment: encodeFieldElement(cheater.dataset.commitment),
        datasetSignature: encodeSignature(cheater.dataset.signature),
      }).catch((error: unknown) => error);
      expect(isServiceError(rejoin) && rejoin.code).toBe(status.PERMISSION_DENIED);
      expect(isServiceError(rejoin) && rejoin.details).toBe(denied);

      // The job finishes without it.
      for (const device of [honest, late]) {
        const { task: own } =
          device === honest ? { task: second } : await device.next("task", 60_000);
        const next = await provenUpload({
          harness,
          task: own!,
          deviceId: device.deviceId,
          dataset: device.dataset,
          circuitIds,
        });
        await device.submit(next.header, next.bytes);
      }
      expect((await honest.next("ended", 90_000)).ended).toMatchObject({
        state: "JOB_STATE_COMPLETED",
      });
      expect((await store.contributions(job.jobId, 2)).map((c) => c.deviceId)).toEqual([
        "honest",
        "late",
      ]);
    } finally {
      honest.close();
      cheater.close();
      late?.close();
    }
  }, 300_000);
});
