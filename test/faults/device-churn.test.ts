import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CliProcess } from "../harness/cli-process.js";
import { expectJobIntact, FaultCluster, kill, sleep } from "./fault-harness.js";

// A third of the devices is SIGKILLed every few seconds and replaced by a new process with the
// same id and key: the replacement Joins again (revoking the dead one's session) and, when it
// was selected for the open round and had not uploaded, gets that round's task again.
describe("devices killed and replaced all through a job", () => {
  const cluster = new FaultCluster();

  beforeAll(async () => {
    await cluster.start();
  }, 30_000);
  afterAll(async () => {
    await cluster.dispose();
  });

  it("the job completes with every accepted update aggregated", async () => {
    const coordinator = await cluster.coordinator();
    const count = 6;
    const jobId = await cluster.createJob(coordinator.address, {
      rounds: 6,
      clientsPerRound: 3,
      minClients: 2,
      // More than survive a wave: a round after a wave waits for a replacement to Join again.
      minAvailableClients: 5,
      overSelection: 2,
      roundDeadlineSeconds: 8,
      enrolmentTimeoutSeconds: 60,
    });
    const start = (i: number) => cluster.device([coordinator.address], jobId, i, count);
    const devices: CliProcess[] = Array.from({ length: count }, (_, i) => start(i));
    // Churn starts once the devices are up and round 1 runs: a device killed before it ever
    // started would test nothing.
    await coordinator.waitForStderr(/"round":1,[^\n]*"round started"/, 60_000);
    let replaced = 0;
    const endAt = Date.now() + 100_000;
    let state = "";
    // A wave at the start of each of rounds 1–4 while the job runs: kill 30 % of the devices
    // and start replacements with the same ids and keys. With 2 of 6 gone, fewer than
    // minAvailableClients are online, so the next round cannot start until a replacement has
    // joined again: the first wave always hits the running job and its replacements must take
    // part; later waves land wherever the job is by then.
    let next = 0;
    waves: for (let round = 1; round <= 4; round++) {
      await coordinator.waitForStderr(
        new RegExp(`"round":${round},[^\\n]*"round started"`),
        Math.max(1, endAt - Date.now()),
      );
      // On a loaded machine a process takes a while to start; killing it before it joins
      // tests nothing, so a wave waits for the last one's replacements to be up.
      while (!devices.every((d) => d.child.exitCode === null && /"joined"/.test(d.stderr()))) {
        state = await cluster.waitForJobEnd(jobId, 0);
        if (state === "COMPLETED" || state === "FAILED") break waves;
        if (Date.now() > endAt) throw new Error("replacement devices did not join in time");
        await sleep(200);
      }
      for (let k = 0; k < Math.ceil(count * 0.3); k++) {
        const i = next++ % count;
        await kill(devices[i]!.child, "SIGKILL");
        devices[i] = start(i);
        replaced++;
      }
    }
    state = await cluster.waitForJobEnd(jobId, Math.max(0, endAt - Date.now()));
    expect(state, cluster.logs()).toBe("COMPLETED");
    // At least one wave hit the running job, and replacements took part in it again.
    expect(replaced).toBeGreaterThanOrEqual(2);
    expect(coordinator.stderr()).toMatch(/"rejoin":true/);
    await expectJobIntact(cluster, jobId);
  }, 240_000);
});
