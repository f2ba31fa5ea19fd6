import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { startAdversarialCoordinator } from "../harness/adversarial-coordinator.js";
import { oneDeviceJobSpec } from "../harness/job-specs.js";
import { joinRawDevice, updateHeaderFor, zeroUpdateFor } from "../harness/raw-device.js";
import { snapshotKeys } from "../harness/redis.js";

/**
 * A completed round is history: its record is what was anchored and what `fedproof verify`
 * checks against. A device that sends its update again once the round is over is refused,
 * and the refusal leaves no trace in the round (it used to be listed both as a contributor
 * and as a late rejection).
 */
describe("a completed round", () => {
  const target = startAdversarialCoordinator("completed-round");

  it("refuses a re-sent update with FAILED_PRECONDITION and keeps its record byte for byte", async () => {
    const { coordinator, redis } = target;
    const job = await coordinator.jobs.createJob(oneDeviceJobSpec({ rounds: 2 }));
    const device = await joinRawDevice(coordinator.address, job.jobId, "device");
    try {
      const { task } = await device.next("task");
      const header = updateHeaderFor(task!);
      await device.submit(header, zeroUpdateFor(task!));
      // Round 2's task arrives once round 1 has completed.
      await device.taskOfRound(2);
      expect((await coordinator.store.getRound(job.jobId, 1)).state).toBe("COMPLETED");

      const { keys } = coordinator.store;
      const snapshot = () =>
        snapshotKeys(redis, [
          keys.round(job.jobId, 1),
          keys.contributions(job.jobId, 1),
          keys.rejections(job.jobId, 1),
          keys.submitted(job.jobId, 1),
          keys.selected(job.jobId, 1),
        ]);
      const before = await snapshot();

      await expect(device.submit(header, zeroUpdateFor(task!))).rejects.toMatchObject({
        code: status.FAILED_PRECONDITION,
        details: expect.stringMatching(/round 1 of job .* is closed \(COMPLETED/),
      });
      expect(await snapshot()).toEqual(before);
      const round = await coordinator.store.getRound(job.jobId, 1);
      expect(round).toMatchObject({ accepted: 1, rejected: 0, late: 0 });
      expect(await coordinator.store.rejections(job.jobId, 1)).toEqual([]);
      const described = await coordinator.jobs.describeJob(job.jobId);
      expect(described.rounds![0]!.rejections).toEqual([]);
    } finally {
      device.close();
    }
  });
});
