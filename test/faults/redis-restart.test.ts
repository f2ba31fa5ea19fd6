import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectJobIntact, FaultCluster, sleep } from "./fault-harness.js";

// The deployment's Redis (append-only file, fsync always) is SIGKILLed as round 2 starts and
// started again from its file a moment later. Coordinator, workers and devices ride it out:
// connections come back, timers and queued jobs were in Redis, failed steps are retried.
describe("Redis killed and restarted mid-job", () => {
  const cluster = new FaultCluster();

  beforeAll(async () => {
    await cluster.start();
  }, 30_000);
  afterAll(async () => {
    await cluster.dispose();
  });

  it("the job completes", async () => {
    const coordinator = await cluster.coordinator();
    const jobId = await cluster.createJob(coordinator.address, {
      rounds: 3,
      clientsPerRound: 4,
      minClients: 2,
      minAvailableClients: 4,
      roundDeadlineSeconds: 20,
    });
    const devices = [0, 1, 2, 3].map((i) => cluster.device([coordinator.address], jobId, i, 4));
    await coordinator.waitForStderr(/"round":2,[^\n]*"round started"/, 60_000);
    await cluster.redis!.kill();
    await sleep(1_500);
    await cluster.redis!.restart();

    const state = await cluster.waitForJobEnd(jobId, 90_000);
    expect(state, cluster.logs()).toBe("COMPLETED");
    await expectJobIntact(cluster, jobId);
    const exits = await Promise.all(devices.map((device) => device.exited));
    for (const [i, exit] of exits.entries()) {
      expect(exit, devices[i]!.stderr()).toEqual({ code: 0, signal: null });
    }
  }, 180_000);
});
