import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { type JoinJobParameters, joinJob } from "../../client/node/coordinator-client.js";
import { randomFieldElement } from "../../protocol/proving/field.js";
import { encodeFieldElement } from "../../protocol/proving/proof-codec.js";
import { startAdversarialCoordinator } from "../harness/adversarial-coordinator.js";
import { oneDeviceJobSpec } from "../harness/job-specs.js";
import { joinRawDevice, updateHeaderFor, zeroUpdateFor } from "../harness/raw-device.js";

const PAYOUT = "0x3333333333333333333333333333333333333333";

/**
 * A second Join with the same id and key used to overwrite the dataset commitment: a device
 * could learn the round's challenge, then swap in a dataset made for it. What the first Join
 * fixed (dataset commitment, sample count, payout address) now stays fixed; a re-Join that
 * would move it is refused with FAILED_PRECONDITION, and the refusal changes nothing. Shown
 * on a job without proofs, where the commitment is optional but, once given, just as frozen
 * (the same check runs before a job with proofs looks at its dataset signature).
 */
describe("a re-Join that swaps the dataset", () => {
  const target = startAdversarialCoordinator("dataset-swap");

  it("is refused with FAILED_PRECONDITION naming what is frozen, after the task arrived", async () => {
    const { coordinator, clients } = target;
    const job = await coordinator.jobs.createJob(oneDeviceJobSpec());
    const commitment = encodeFieldElement(randomFieldElement());
    const device = await joinRawDevice(coordinator.address, job.jobId, "swapper", 100, {
      datasetCommitment: commitment,
      payoutAddress: PAYOUT,
    });
    try {
      const { task } = await device.next("task");
      const record = await coordinator.store.findDevice(job.jobId, "swapper");
      expect(record).toMatchObject({
        datasetCommitment: Buffer.from(commitment).toString("hex"),
        samples: 100,
      });
      const rejoin = (change: Partial<JoinJobParameters>) =>
        joinJob(clients.coordinator, {
          jobId: job.jobId,
          deviceId: "swapper",
          privateKey: device.privateKey,
          samples: 100,
          datasetCommitment: commitment,
          payoutAddress: PAYOUT,
          ...change,
        });

      const swapped = encodeFieldElement(randomFieldElement());
      await expect(rejoin({ datasetCommitment: swapped })).rejects.toMatchObject({
        code: status.FAILED_PRECONDITION,
        details: expect.stringMatching(
          /^device swapper enrolled with dataset commitment "[0-9a-f]{64}"; a re-Join cannot change it to "[0-9a-f]{64}" \(frozen at first Join\)$/,
        ),
      });
      await expect(rejoin({ datasetCommitment: undefined })).rejects.toMatchObject({
        code: status.FAILED_PRECONDITION,
        details: expect.stringMatching(/dataset commitment .* cannot change it to none/),
      });
      await expect(rejoin({ samples: 100_000 })).rejects.toMatchObject({
        code: status.FAILED_PRECONDITION,
        details: expect.stringMatching(
          /^device swapper enrolled with sample count 100; a re-Join cannot change it to 100000/,
        ),
      });
      await expect(
        rejoin({ payoutAddress: "0x4444444444444444444444444444444444444444" }),
      ).rejects.toMatchObject({
        code: status.FAILED_PRECONDITION,
        details: expect.stringMatching(/enrolled with payout address/),
      });

      // Nothing moved: the record is the first Join's, and the session it issued still works.
      expect(await coordinator.store.findDevice(job.jobId, "swapper")).toEqual(record);
      await device.submit(updateHeaderFor(task!), zeroUpdateFor(task!));
      expect((await device.next("result")).result).toMatchObject({ accepted: true });

      // A re-Join that keeps what is frozen is fine (and replaces the session).
      const again = await rejoin({});
      expect(again.deviceId).toBe("swapper");
      expect(await coordinator.store.findSession(device.session.sessionToken)).toBeUndefined();
    } finally {
      device.close();
    }
  });
});
