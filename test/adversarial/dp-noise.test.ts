import { describe, expect, it } from "vitest";
import { readModelStream } from "../../client/node/coordinator-client.js";
import type { JobSpecInput } from "../../protocol/job/job-spec.js";
import { decodeModel } from "../../protocol/model/weights.js";
import { startAdversarialCoordinator } from "../harness/adversarial-coordinator.js";
import { oneDeviceJobSpec } from "../harness/job-specs.js";
import { joinRawDevice, updateHeaderFor, zeroUpdateFor } from "../harness/raw-device.js";

/**
 * Central DP rests on noise nobody can reproduce: the models are public, so noise derived
 * from anything guessable (the job seed, a 32-bit seed) can be subtracted again to leave
 * the exact sum of the updates. Two jobs from the same spec and seed, fed the same update,
 * must publish different models.
 */
describe("central DP noise", () => {
  const target = startAdversarialCoordinator("dp-noise");

  const spec: JobSpecInput = oneDeviceJobSpec({
    clipNorm: 1,
    seed: 42,
    privacy: { noiseMultiplier: 1 },
  });

  /** One round in which the only device sends an all-zero update; returns initial and final model. */
  async function runRound() {
    const { coordinator } = target;
    const job = await coordinator.jobs.createJob(spec);
    const device = await joinRawDevice(coordinator.address, job.jobId, "device");
    try {
      const { task } = await device.next("task");
      await device.submit(updateHeaderFor(task!), zeroUpdateFor(task!));
      await device.next("ended");
      const round = await coordinator.store.getRound(job.jobId, 1);
      expect(round.state).toBe("COMPLETED");
      const { coordinator: devices, jobs } = device.clients;
      const initial = await readModelStream(devices.getModel({ modelHash: job.initialModelHash }));
      const final = await readModelStream(jobs.downloadModel({ jobId: job.jobId, round: 1 }));
      expect(final.header.modelHash).toBe(round.modelHash);
      return {
        initialModelHash: job.initialModelHash,
        initial: decodeModel(initial.bytes),
        final: decodeModel(final.bytes),
      };
    } finally {
      device.close();
    }
  }

  it("draws different noise for two aggregations of the same job seed", async () => {
    const a = await runRound();
    const b = await runRound();
    // Same seed, same initial model, same (zero) update: only the noise can differ.
    expect(a.initialModelHash).toBe(b.initialModelHash);
    const noiseA = a.final.map((value, i) => value - a.initial[i]!);
    const noiseB = b.final.map((value, i) => value - b.initial[i]!);
    expect(Array.from(noiseA)).not.toEqual(Array.from(noiseB));
    // And it is the noise the spec asks for: σ = z·C/K = 1 per coordinate of the mean.
    // 68 coordinates give a sample standard deviation within ±40% of σ with overwhelming odds.
    for (const noise of [noiseA, noiseB]) {
      const std = Math.sqrt(noise.reduce((sum, x) => sum + x * x, 0) / noise.length);
      expect(std).toBeGreaterThan(0.6);
      expect(std).toBeLessThan(1.4);
    }
  });
});
