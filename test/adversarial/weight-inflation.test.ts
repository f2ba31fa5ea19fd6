import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import type { DeviceMetrics } from "../../proto/generated/fedproof/v1/DeviceMetrics.js";
import { decodeModel } from "../../protocol/model/weights.js";
import { encodeUpdate } from "../../protocol/update/quantize.js";
import { startAdversarialCoordinator } from "../harness/adversarial-coordinator.js";
import { SMALL_SCHEMA } from "../harness/job-specs.js";
import { joinRawDevice, updateHeaderFor } from "../harness/raw-device.js";
import { snapshotKeys } from "../harness/redis.js";
import { waitForRound } from "../harness/wait-for-round.js";

const honestMetrics: DeviceMetrics = {
  trainLoss: 1.2,
  trainSeconds: 0.5,
  holdoutAccuracy: 0.5,
  holdoutLoss: 1.3,
  holdoutSamples: 5,
  updateNorm: 0.1,
  proveSeconds: 0,
};

/**
 * `UpdateHeader.samples` was never compared with what the device declared at Join: an update
 * claiming 4294967295 samples moved the model by exactly that device's delta. Device metrics
 * were not range-checked either (job status showed a federated accuracy of 10⁶). Now the weight
 * is the count fixed at Join, capped by the spec's maxSamplesPerDevice; a header claiming
 * another count, or metrics out of range, is refused before anything is stored.
 */
describe("an update that inflates its weight or its metrics", () => {
  const target = startAdversarialCoordinator("weight-inflation");

  it("is refused, and the model is the enrolment-weighted mean (counts above the cap refused at Join)", async () => {
    const { coordinator, redis } = target;
    const job = await coordinator.jobs.createJob({
      model: "logreg",
      schema: SMALL_SCHEMA,
      rounds: 1,
      clientsPerRound: 2,
      minClients: 2,
      overSelection: 1,
      maxSamplesPerDevice: 50,
    });
    // Declaring more than the cap at Join is refused: the enrolled count is both the weight
    // and the credit, so a count above the cap would earn credit the model ignores.
    await expect(joinRawDevice(coordinator.address, job.jobId, "huge", 1000)).rejects.toMatchObject(
      {
        code: status.INVALID_ARGUMENT,
        details: expect.stringContaining("above the job's maxSamplesPerDevice 50"),
      },
    );
    expect(await coordinator.store.findDevice(job.jobId, "huge")).toBeUndefined();
    const [big, small] = await Promise.all([
      joinRawDevice(coordinator.address, job.jobId, "big", 50),
      joinRawDevice(coordinator.address, job.jobId, "small", 25),
    ]);
    try {
      const [{ task }] = await Promise.all([big.next("task"), small.next("task")]);
      const n = Number(task!.paramCount);
      // Each submission below names its own sample count.
      const header = updateHeaderFor(task!);
      const qSmall = new Int32Array(n).map((_, j) => (j % 5) - 2);
      const qBig = new Int32Array(n).map((_, j) => 3 * ((j % 3) - 1));

      const { keys } = coordinator.store;
      const snapshot = () =>
        snapshotKeys(redis, [
          keys.round(job.jobId, 1),
          keys.contributions(job.jobId, 1),
          keys.rejections(job.jobId, 1),
          keys.submitted(job.jobId, 1),
        ]);
      const before = await snapshot();

      await expect(
        small.submit(
          { ...header, samples: 4294967295, metrics: honestMetrics },
          encodeUpdate(qSmall, 16),
        ),
      ).rejects.toMatchObject({
        code: status.INVALID_ARGUMENT,
        details:
          "update header claims 4294967295 samples, device small enrolled with 25: the weight is fixed at Join",
      });
      const inflated: [Partial<DeviceMetrics>, RegExp][] = [
        [{ holdoutAccuracy: 1e6 }, /^metrics\.holdoutAccuracy = "1000000" must be in \[0, 1\]$/],
        [{ holdoutAccuracy: Number.NaN }, /^metrics\.holdoutAccuracy = "NaN" must be in \[0, 1\]$/],
        [{ trainLoss: -1 }, /^metrics\.trainLoss = "-1" must be a finite, non-negative number$/],
        [{ holdoutLoss: Number.POSITIVE_INFINITY }, /^metrics\.holdoutLoss = "Infinity"/],
        [
          { holdoutSamples: 1_000_000 },
          /^metrics\.holdoutSamples = "1000000" must be at most the 25/,
        ],
      ];
      for (const [metrics, message] of inflated) {
        await expect(
          small.submit(
            { ...header, samples: 25, metrics: { ...honestMetrics, ...metrics } },
            encodeUpdate(qSmall, 16),
          ),
        ).rejects.toMatchObject({
          code: status.INVALID_ARGUMENT,
          details: expect.stringMatching(message),
        });
      }
      // The refusals left the round exactly as it was: no slot claimed, nothing recorded.
      expect(await snapshot()).toEqual(before);

      // The same device, honest now, is still taken; so is the big one.
      await small.submit(
        { ...header, samples: 25, metrics: honestMetrics },
        encodeUpdate(qSmall, 16),
      );
      await big.submit({ ...header, samples: 50, metrics: honestMetrics }, encodeUpdate(qBig, 16));
      const round = await waitForRound(coordinator.store, job.jobId, 1, "COMPLETED");
      expect(round).toMatchObject({ accepted: 2, rejected: 0, late: 0 });
      const contributions = await coordinator.store.contributions(job.jobId, 1);
      expect(contributions.map((c) => [c.deviceId, c.samples])).toEqual([
        ["big", 50],
        ["small", 25],
      ]);

      // Weighted 50 : 25 by the enrolled counts, never by the header's 4294967295.
      const scale = job.spec.quantization.scale;
      const global = decodeModel(await coordinator.artifacts.get(job.initialModelHash), n);
      const next = decodeModel(await coordinator.artifacts.get(round.modelHash), n);
      for (let j = 0; j < n; j++) {
        expect(next[j]).toBeCloseTo(global[j]! + ((2 * qBig[j]! + qSmall[j]!) / 3) * scale, 5);
      }
      // Job status shows what honest devices measured, not 10⁶.
      const described = await coordinator.jobs.describeJob(job.jobId);
      expect(described.rounds![0]!.federatedAccuracy).toBeCloseTo(0.5, 9);
    } finally {
      big.close();
      small.close();
    }
  });
});
