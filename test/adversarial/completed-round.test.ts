import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectRedis, type RedisClient } from "../../coordinator/store/redis.js";
import { startTestCoordinator, type TestCoordinator } from "../harness/coordinator.js";
import { joinRawDevice } from "../harness/raw-device.js";
import { TEST_REDIS_URL } from "../harness/redis.js";

/**
 * A completed round is history: its record is what was anchored and what `fedproof verify`
 * checks against. A device that sends its update again once the round is over is refused,
 * and the refusal leaves no trace in the round (it used to be listed both as a contributor
 * and as a late rejection).
 */
describe("a completed round", () => {
  let coordinator: TestCoordinator;
  /** A connection of the test's own, to read the stored bytes rather than the store's view. */
  let redis: RedisClient;
  beforeAll(async () => {
    coordinator = await startTestCoordinator("completed-round");
    redis = await connectRedis(TEST_REDIS_URL);
  });
  afterAll(async () => {
    redis?.disconnect();
    await coordinator?.dispose();
  });

  it("refuses a re-sent update with FAILED_PRECONDITION and keeps its record byte for byte", async () => {
    const job = await coordinator.jobs.createJob({
      model: "logreg",
      schema: { featureShape: [16], min: 0, max: 1, classes: 4 },
      rounds: 2,
      clientsPerRound: 1,
      minClients: 1,
      overSelection: 1,
    });
    const device = await joinRawDevice(coordinator.address, job.jobId, "device");
    try {
      const { task } = await device.next("task");
      const n = Number(task!.paramCount);
      const header = {
        jobId: job.jobId,
        round: 1,
        globalModelHash: task!.globalModelHash,
        samples: 100,
        bits: 16,
        paramCount: String(n),
      };
      await device.submit(header, new Uint8Array(n * 2));
      // Round 2's task arrives once round 1 has completed.
      for (;;) {
        const next = await device.next("task");
        if (next.task!.round === 2) break;
      }
      expect((await coordinator.store.getRound(job.jobId, 1)).state).toBe("COMPLETED");

      const { keys } = coordinator.store;
      const snapshot = () =>
        Promise.all(
          [
            keys.round(job.jobId, 1),
            keys.contributions(job.jobId, 1),
            keys.rejections(job.jobId, 1),
            keys.submitted(job.jobId, 1),
            keys.selected(job.jobId, 1),
          ].map((key) => redis.dumpBuffer(key)),
        );
      const before = await snapshot();

      await expect(device.submit(header, new Uint8Array(n * 2))).rejects.toMatchObject({
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
