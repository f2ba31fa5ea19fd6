import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { selectBackend } from "../../client/node/backend.js";
import { fleetDeviceId, runFleet } from "../../client/node/simulation/fleet.js";
import { startTestCoordinator, type TestCoordinator, testLogger } from "../harness/coordinator.js";

const schema = { featureShape: [16], min: 0, max: 1, classes: 4 };
const DEVICES = 60;

describe("a fleet of virtual devices in one process", () => {
  let coordinator: TestCoordinator;

  beforeAll(async () => {
    await selectBackend({ preferred: "cpu" });
    // The default Join rate limit (50 per second): the fleet has to ramp under it.
    coordinator = await startTestCoordinator("fleet");
  });
  afterAll(async () => {
    await coordinator?.dispose();
  });

  // Three rounds: a round followed by another (which waits for every device to be online again)
  // carries out all of its planned drops, so at least two rounds' worth happen. The last round
  // may end before its churn window does: the drops still pending are then moot (the fleet
  // stops its timers), which a 2-round version counted as missing (23 or 17 of 24).
  it("runs a 3-round job with 20 % churn, and only selected devices' updates are accepted", async () => {
    const job = await coordinator.jobs.createJob({
      model: "logreg",
      schema,
      rounds: 3,
      clientsPerRound: 10,
      minClients: 8,
      overSelection: 1.5,
      minAvailableClients: DEVICES,
      roundDeadlineSeconds: 60,
      clipNorm: 5,
      training: { learningRate: 0.2, epochs: 1 },
    });
    const fleet = await runFleet({
      address: coordinator.address,
      jobId: job.jobId,
      devices: DEVICES,
      dataset: "synthetic",
      partition: "iid",
      seed: 3,
      // 12 drops per round, early in the round, so that some hit selected devices mid-work.
      churn: { fraction: 0.2, windowMs: 300, offlineMs: [200, 1_000] },
      joinsPerSecond: 40,
      logger: testLogger,
    });

    const info = await coordinator.jobs.describeJob(job.jobId);
    expect(info.state).toBe("JOB_STATE_COMPLETED");
    expect(info.rounds).toHaveLength(3);
    expect(fleet.devices).toBe(DEVICES);
    expect(fleet.rounds.map((r) => r.dropped)).toEqual([12, 12, 12]);
    expect(fleet.drops).toBeGreaterThanOrEqual(24);
    expect(fleet.drops).toBeLessThanOrEqual(36);
    // Every device saw the job end, but one dropped so late that the job was over when it
    // came back; every other dropped device rejoined, signed, under its id.
    expect(fleet.errors).toBe(0);
    expect(fleet.completed + fleet.offlineAtEnd).toBe(DEVICES);
    for (const device of fleet.results.filter((r) => r.drops > 0)) {
      if (device.outcome !== "offline-at-end") expect(device.joins).toBeGreaterThanOrEqual(2);
    }
    expect(fleet.joins).toBeGreaterThan(DEVICES);

    const ids = new Set(Array.from({ length: DEVICES }, (_, i) => fleetDeviceId(i, DEVICES)));
    for (const round of [1, 2, 3]) {
      const selected = new Set(await coordinator.store.selectedDevices(job.jobId, round));
      const contributions = await coordinator.store.contributions(job.jobId, round);
      expect(selected.size).toBe(15);
      expect(contributions.length).toBeGreaterThanOrEqual(8);
      for (const contribution of contributions) {
        expect(selected.has(contribution.deviceId)).toBe(true);
        expect(ids.has(contribution.deviceId)).toBe(true);
      }
      // Only selected devices trained.
      const trained = fleet.results.filter((r) => r.rounds.some((x) => x.round === round));
      for (const device of trained) expect(selected.has(device.deviceId)).toBe(true);
      expect(info.rounds![round - 1]!.accepted).toBe(contributions.length);
    }
  }, 300_000);
});
