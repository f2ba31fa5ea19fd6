import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { partitionIid } from "../client/core/data/partition.js";
import { syntheticDataset } from "../client/core/data/synthetic.js";
import { selectBackend } from "../client/node/backend.js";
import { Device } from "../client/node/device.js";
import { subset } from "../protocol/data/dataset.js";
import { decodeModel } from "../protocol/model/weights.js";
import { startTestCoordinator, type TestCoordinator, testLogger } from "./harness/coordinator.js";

const schema = { featureShape: [16], min: 0, max: 1, classes: 4 };

describe("a full federated round over gRPC, Redis and BullMQ", () => {
  let coordinator: TestCoordinator;

  beforeAll(async () => {
    await selectBackend({ preferred: "cpu" });
    coordinator = await startTestCoordinator("full-round");
  });
  afterAll(async () => {
    await coordinator?.dispose();
  });

  it("runs two rounds with four devices and moves the model each round", async () => {
    const job = await coordinator.jobs.createJob({
      model: "logreg",
      schema,
      rounds: 2,
      clientsPerRound: 4,
      minClients: 3,
      overSelection: 1,
      roundDeadlineSeconds: 60,
      clipNorm: 5,
      training: { learningRate: 0.2, epochs: 2 },
    });
    const pool = syntheticDataset({ samples: 800, seed: 1 });
    const parts = partitionIid({ labels: pool.y, clients: 4, seed: 1 });
    const devices = parts.map(
      (indices, i) =>
        new Device({
          address: coordinator.address,
          jobId: job.jobId,
          deviceId: `device-${i}`,
          data: subset(pool, indices),
          seed: 100 + i,
          logger: testLogger,
        }),
    );
    const results = await Promise.all(devices.map((device) => device.run()));
    for (const result of results) {
      expect(result.jobState).toBe("JOB_STATE_COMPLETED");
      expect(result.rounds.map((r) => r.round)).toEqual([1, 2]);
    }
    const info = await coordinator.jobs.describeJob(job.jobId);
    expect(info.state).toBe("JOB_STATE_COMPLETED");
    expect(info.rounds).toHaveLength(2);
    const [first, second] = info.rounds!;
    expect(first!.state).toBe("ROUND_STATE_COMPLETED");
    expect(first!.accepted).toBe(4);
    expect(first!.globalModelHash).toBe(job.initialModelHash);
    expect(second!.globalModelHash).toBe(first!.modelHash);
    expect(info.currentModelHash).toBe(second!.modelHash);
    expect(new Set([job.initialModelHash, first!.modelHash, second!.modelHash]).size).toBe(3);
    // The stored model decodes to the job's parameter count.
    const model = decodeModel(await coordinator.artifacts.get(second!.modelHash!), job.paramCount);
    expect(model.length).toBe(job.paramCount);
    // Devices evaluated the global model on their held-out records in round 2.
    expect(second!.federatedAccuracy).toBeGreaterThan(0.25);
  });
});
