import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestCoordinator, type TestCoordinator } from "./harness/coordinator.js";
import { joinRawDevice, updateHeaderFor, zeroUpdateFor } from "./harness/raw-device.js";

const schema = { featureShape: [16], min: 0, max: 1, classes: 4 };

describe("updates the coordinator must refuse", () => {
  let coordinator: TestCoordinator;
  beforeAll(async () => {
    coordinator = await startTestCoordinator("rejections");
  });
  afterAll(async () => {
    await coordinator?.dispose();
  });

  it("answers an update of the wrong shape with INVALID_ARGUMENT and leaves the model unchanged", async () => {
    const job = await coordinator.jobs.createJob({
      model: "logreg",
      schema,
      clientsPerRound: 1,
      minClients: 1,
      overSelection: 1,
    });
    const device = await joinRawDevice(coordinator.address, job.jobId, "shape-device");
    try {
      const { task } = await device.next("task");
      const n = Number(task!.paramCount);
      // Each submission below declares its own parameter count.
      const header = updateHeaderFor(task!);

      // Declares one parameter too few.
      const declared = device.submit(
        { ...header, paramCount: String(n - 1) },
        new Uint8Array((n - 1) * 2),
      );
      await expect(declared).rejects.toMatchObject({
        code: status.INVALID_ARGUMENT,
        details: expect.stringMatching(/parameters, the model has/),
      });

      // Declares the right count but sends too few bytes.
      const short = device.submit({ ...header, paramCount: String(n) }, new Uint8Array(n * 2 - 2));
      await expect(short).rejects.toMatchObject({
        code: status.INVALID_ARGUMENT,
        details: expect.stringMatching(/bytes, expected/),
      });

      // And too many.
      const long = device.submit({ ...header, paramCount: String(n) }, new Uint8Array(n * 2 + 2));
      await expect(long).rejects.toMatchObject({ code: status.INVALID_ARGUMENT });

      const round = await coordinator.store.getRound(job.jobId, 1);
      expect(round.state).toBe("OPEN");
      expect(round.accepted).toBe(0);
      expect(await coordinator.store.contributions(job.jobId, 1)).toEqual([]);
      expect((await coordinator.store.getJob(job.jobId)).currentModelHash).toBe(
        job.initialModelHash,
      );

      // A correctly shaped update is still welcome afterwards: the failed tries cost the device nothing.
      const ok = await device.submit({ ...header, paramCount: String(n) }, new Uint8Array(n * 2));
      expect(ok.status).toBe("queued");
    } finally {
      device.close();
    }
  });

  it("refuses a straggler's update once the round has closed, with FAILED_PRECONDITION", async () => {
    // Two devices asked (over-selection 2), the first verified update closes the round.
    const job = await coordinator.jobs.createJob({
      model: "logreg",
      schema,
      clientsPerRound: 1,
      minClients: 1,
      overSelection: 2,
      rounds: 2,
    });
    const fast = await joinRawDevice(coordinator.address, job.jobId, "fast");
    const slow = await joinRawDevice(coordinator.address, job.jobId, "slow");
    try {
      // Round 1 may start with `fast` alone (minClients 1). By round 2 both are online, so
      // both are selected and the first verified update closes the round.
      const first = (await fast.next("task")).task!;
      await fast.submit(updateHeaderFor(first), zeroUpdateFor(first));
      await waitFor(async () => (await coordinator.store.findRound(job.jobId, 2)) !== undefined);
      const second = await fast.taskOfRound(2);
      await slow.taskOfRound(2);
      await fast.submit(updateHeaderFor(second), zeroUpdateFor(second));
      await waitFor(async () => (await coordinator.store.getRound(job.jobId, 2)).state !== "OPEN");

      const late = slow.submit(updateHeaderFor(second), zeroUpdateFor(second));
      await expect(late).rejects.toMatchObject({
        code: status.FAILED_PRECONDITION,
        details: expect.stringMatching(/round 2 .* is closed/),
      });
      expect((await coordinator.store.getRound(job.jobId, 2)).late).toBe(1);
    } finally {
      fast.close();
      slow.close();
    }
  });

  it("refuses an update after the round deadline with FAILED_PRECONDITION naming the round", async () => {
    const job = await coordinator.jobs.createJob({
      model: "logreg",
      schema,
      clientsPerRound: 2,
      minClients: 2,
      overSelection: 1,
      roundDeadlineSeconds: 1,
    });
    const a = await joinRawDevice(coordinator.address, job.jobId, "a");
    const b = await joinRawDevice(coordinator.address, job.jobId, "b");
    try {
      const { task } = await a.next("task");
      await b.next("task");
      await a.submit(updateHeaderFor(task!), zeroUpdateFor(task!));
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const late = b.submit(updateHeaderFor(task!), zeroUpdateFor(task!));
      await expect(late).rejects.toMatchObject({
        code: status.FAILED_PRECONDITION,
        details: expect.stringMatching(/round 1 of job .* is closed.*late/),
      });
      const round = await coordinator.store.getRound(job.jobId, 1);
      expect(round.late).toBeGreaterThanOrEqual(1);
      // One verified update is below minClients 2: the round failed instead of aggregating.
      expect(round.state).toBe("FAILED");
      expect((await coordinator.store.getJob(job.jobId)).reason).toMatch(/fewer than minClients 2/);
    } finally {
      a.close();
      b.close();
    }
  });
});

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
