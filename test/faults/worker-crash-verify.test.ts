import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectJobIntact, FaultCluster, kill } from "./fault-harness.js";

// The only verify worker hangs inside verification (a failpoint, after the checks, before the
// update is recorded) holding every upload, and is SIGKILLed. BullMQ sees its locks expire
// and another worker verifies the same updates: none is lost, none counted twice.
describe("a verify worker killed mid-verification", () => {
  const cluster = new FaultCluster();

  beforeAll(async () => {
    await cluster.start();
  }, 30_000);
  afterAll(async () => {
    await cluster.dispose();
  });

  it("another worker verifies every update and the job completes", async () => {
    const coordinator = await cluster.coordinator({ workers: false });
    const doomed = await cluster.worker("verify", {
      FEDPROOF_FAILPOINTS: "verify-before-record=hang",
    });
    const jobId = await cluster.createJob(coordinator.address, {
      rounds: 1,
      clientsPerRound: 4,
      minClients: 4,
      roundDeadlineSeconds: 90,
    });
    const devices = [0, 1, 2, 3].map((i) => cluster.device([coordinator.address], jobId, i, 4));
    await Promise.all(devices.map((device) => device.waitForStderr(/"update uploaded"/, 60_000)));
    await doomed.waitForStderr(/failpoint verify-before-record triggered/, 10_000);
    await cluster.store(async (store) => {
      expect((await store.getRound(jobId, 1)).accepted).toBe(0);
    });
    await kill(doomed.child, "SIGKILL");
    await cluster.worker("verify,aggregate,anchor");

    const exits = await Promise.all(devices.map((device) => device.exited));
    for (const [i, exit] of exits.entries()) {
      expect(exit, devices[i]!.stderr()).toEqual({ code: 0, signal: null });
      const report = JSON.parse(devices[i]!.stdout());
      expect(report.rounds.map((r: { accepted?: boolean }) => r.accepted)).toEqual([true]);
    }
    await expectJobIntact(cluster, jobId);
    await cluster.store(async (store) => {
      const round = await store.getRound(jobId, 1);
      expect(round.accepted).toBe(4);
      expect(round.rejected).toBe(0);
      expect(round.late).toBe(0);
    });
  }, 180_000);
});
