import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../cli/demo/private-redis.js";
import { expectJobIntact, FaultCluster, kill, until } from "./fault-harness.js";

// The only coordinator is SIGKILLed as round 2 starts and started again on the same port:
// its devices lose their streams (and maybe an upload), reconnect with backoff, Join again
// with their keys, get the open round's task again, and the job completes.
describe("a coordinator killed and restarted mid-job", () => {
  const cluster = new FaultCluster();

  beforeAll(async () => {
    await cluster.start();
  }, 30_000);
  afterAll(async () => {
    await cluster.dispose();
  });

  it("devices reconnect and the job completes", async () => {
    // Workers in their own process: the restart tests the coordinator, not BullMQ's stall check.
    await cluster.worker("verify,aggregate,anchor");
    const port = await freePort();
    const first = await cluster.coordinator({ port, workers: false });
    const jobId = await cluster.createJob(first.address, {
      rounds: 3,
      clientsPerRound: 4,
      minClients: 2,
      minAvailableClients: 4,
      roundDeadlineSeconds: 20,
    });
    const devices = [0, 1, 2, 3].map((i) => cluster.device([first.address], jobId, i, 4));
    await first.waitForStderr(/"round":2,[^\n]*"round started"/, 60_000);
    await kill(first.child, "SIGKILL");
    await cluster.coordinator({ port, workers: false });

    const exits = await Promise.all(devices.map((device) => device.exited));
    for (const [i, exit] of exits.entries()) {
      expect(exit, devices[i]!.stderr()).toEqual({ code: 0, signal: null });
      expect(JSON.parse(devices[i]!.stdout()).jobState).toBe("JOB_STATE_COMPLETED");
      expect(devices[i]!.stderr()).toMatch(/"joined again"/);
    }
    await expectJobIntact(cluster, jobId);
    // A round whose anchor finished while no engine was alive (its completed event missed)
    // still ends ANCHORED: the restarted engine applies the finished anchor job's result.
    await until(
      () =>
        cluster.store(async (store) => {
          const job = await store.getJob(jobId);
          const rounds = await store.listRounds(jobId, job.spec.rounds);
          return rounds.length === job.spec.rounds && rounds.every((r) => r.state === "ANCHORED");
        }),
      60_000,
      `every round of job ${jobId} ANCHORED`,
    );
  }, 180_000);
});
