import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { partitionIid } from "../client/core/data/partition.js";
import { syntheticDataset } from "../client/core/data/synthetic.js";
import { selectBackend } from "../client/node/backend.js";
import { Device } from "../client/node/device.js";
import { epsilonAfter } from "../coordinator/privacy/rdp-accountant.js";
import { subset } from "../protocol/data/dataset.js";
import { startTestCoordinator, type TestCoordinator, testLogger } from "./harness/coordinator.js";

describe("the privacy ledger", () => {
  let coordinator: TestCoordinator;
  beforeAll(async () => {
    await selectBackend({ preferred: "cpu" });
    coordinator = await startTestCoordinator("privacy-budget");
  });
  afterAll(async () => {
    await coordinator?.dispose();
  });

  it("reports ε each round and stops the job before a round would exceed its budget", async () => {
    const z = 0.8;
    const delta = 1e-5;
    // A declared population of 4, 2 per round: q = 0.5. The accountant's ε after 1, 2, 3 rounds:
    const eps = [1, 2, 3].map(
      (rounds) => epsilonAfter({ q: 0.5, noiseMultiplier: z, rounds, delta }).epsilon,
    );
    const budget = (eps[1]! + eps[2]!) / 2; // room for two rounds, not three
    const job = await coordinator.jobs.createJob({
      model: "logreg",
      schema: { featureShape: [16], min: 0, max: 1, classes: 4 },
      rounds: 10,
      clientsPerRound: 2,
      minClients: 2,
      minAvailableClients: 4,
      overSelection: 1,
      privacy: { noiseMultiplier: z, delta, epsilonBudget: budget, population: 4 },
    });
    const pool = syntheticDataset({ samples: 400, seed: 3 });
    const parts = partitionIid({ labels: pool.y, clients: 4, seed: 3 });
    const devices = parts.map(
      (indices, i) =>
        new Device({
          address: coordinator.address,
          jobId: job.jobId,
          deviceId: `p${i}`,
          data: subset(pool, indices),
          seed: i,
          logger: testLogger,
        }),
    );
    await Promise.all(devices.map((device) => device.run()));

    const info = await coordinator.jobs.describeJob(job.jobId);
    expect(info.state).toBe("JOB_STATE_COMPLETED");
    expect(info.rounds).toHaveLength(2);
    expect(info.rounds![0]!.epsilon).toBeCloseTo(eps[0]!, 6);
    expect(info.rounds![1]!.epsilon).toBeCloseTo(eps[1]!, 6);
    expect(info.reason).toMatch(
      /privacy budget: round 3 would raise ε to \d+\.\d+ .*above the budget/,
    );
  });

  it("refuses to start a job whose first round already exceeds the budget", async () => {
    const job = await coordinator.jobs.createJob({
      model: "logreg",
      schema: { featureShape: [16], min: 0, max: 1, classes: 4 },
      clientsPerRound: 1,
      minClients: 1,
      overSelection: 1,
      privacy: { noiseMultiplier: 0.3, epsilonBudget: 0.5 },
    });
    const pool = syntheticDataset({ samples: 100, seed: 4 });
    const result = await new Device({
      address: coordinator.address,
      jobId: job.jobId,
      deviceId: "lonely",
      data: pool,
      seed: 1,
      logger: testLogger,
    }).run();
    expect(result.jobState).toBe("JOB_STATE_FAILED");
    expect(result.reason).toMatch(/round 1 would raise ε/);
  });
});
