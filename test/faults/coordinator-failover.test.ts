import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectJobIntact, FaultCluster, kill } from "./fault-harness.js";

// Two coordinators on one Redis, devices split between them. The coordinator whose engine
// started round 1 is SIGKILLed mid-round: the round's deadline is a timer in Redis, so the
// survivor closes the round when it falls due, the dead coordinator's devices reconnect to the
// survivor, and the job completes.
describe("a coordinator SIGKILLed mid-round while another shares its Redis", () => {
  const cluster = new FaultCluster();

  beforeAll(async () => {
    await cluster.start();
  }, 30_000);
  afterAll(async () => {
    await cluster.dispose();
  });

  it("the survivor closes the round at its deadline and the job completes", async () => {
    // Each runs its own workers: none holds a job when it is killed, at the round's start.
    const [a, b] = await Promise.all([cluster.coordinator(), cluster.coordinator()]);
    const deadlineSeconds = 6;
    const jobId = await cluster.createJob(a.address, {
      rounds: 2,
      clientsPerRound: 4,
      minClients: 2,
      minAvailableClients: 4,
      roundDeadlineSeconds: deadlineSeconds,
    });
    const both = [a.address, b.address];
    const devices = [
      cluster.device(both, jobId, 0, 4),
      cluster.device(both, jobId, 1, 4),
      cluster.device([b.address, a.address], jobId, 2, 4),
    ];
    // A straggler: selected, trains, never uploads, so round 1 can only end at its deadline.
    cluster.device(both, jobId, 3, 4, {
      env: { FEDPROOF_FAILPOINTS: "device-before-upload=hang" },
    });

    const started = await Promise.race([
      a.waitForStderr(/"round":1,[^\n]*"round started"/, 45_000).then(() => a),
      b.waitForStderr(/"round":1,[^\n]*"round started"/, 45_000).then(() => b),
    ]);
    await kill(started.child, "SIGKILL");
    const killedAtMs = Date.now();

    const exits = await Promise.all(devices.map((device) => device.exited));
    for (const [i, exit] of exits.entries()) {
      expect(exit, devices[i]!.stderr()).toEqual({ code: 0, signal: null });
      expect(JSON.parse(devices[i]!.stdout()).jobState).toBe("JOB_STATE_COMPLETED");
    }
    await expectJobIntact(cluster, jobId);
    await cluster.store(async (store) => {
      const round = await store.getRound(jobId, 1);
      expect(round.accepted).toBe(3);
      const contributors = (await store.contributions(jobId, 1)).map((c) => c.deviceId);
      expect(contributors).toEqual(["device-0", "device-1", "device-2"]);
      // Closed by the survivor when the deadline fell due, not when it next restarted.
      expect(round.closedAtMs).toBeGreaterThanOrEqual(round.deadlineMs);
      expect(round.closedAtMs - round.deadlineMs).toBeLessThan(3_000);
      expect(round.deadlineMs).toBeGreaterThan(killedAtMs);
    });
  }, 180_000);
});
