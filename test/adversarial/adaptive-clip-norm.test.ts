import { describe, expect, it } from "vitest";
import type { JobSpecInput } from "../../protocol/job/job-spec.js";
import { encodeUpdate } from "../../protocol/update/quantize.js";
import { startAdversarialCoordinator } from "../harness/adversarial-coordinator.js";
import { oneDeviceJobSpec } from "../harness/job-specs.js";
import { joinRawDevice, updateHeaderFor } from "../harness/raw-device.js";

/**
 * Adaptive clipping moves C towards the γ-quantile of the update norms. When the bit "was this
 * update within C" came from the norm a device reports in its metrics, one device claiming a
 * norm of 10⁹ every round pushed C up as far as it liked (and σ ∝ C with it, or the clip off
 * the honest updates). The coordinator now reads the norm off the update it received,
 * √(Σq²)·scale: what a device says about it changes nothing.
 */
describe("adaptive clipping norms", () => {
  const target = startAdversarialCoordinator("adaptive-clip-norm");

  // scale = 2/32767 lets C grow to 2 before the fixed-point range would cap it.
  const scale = 2 / 32767;
  const spec: JobSpecInput = oneDeviceJobSpec({
    clipNorm: 1,
    quantization: { bits: 16, scale },
    // No DP noise: the count is not noised, so the step is exact.
    privacy: { adaptiveClipQuantile: 0.5 },
  });

  /** C after one round whose only update is `q`, sent with `reportedNorm` as its metric. */
  async function nextClipNorm(fill: (n: number) => Int32Array, reportedNorm: number) {
    const { coordinator } = target;
    const job = await coordinator.jobs.createJob(spec);
    const device = await joinRawDevice(coordinator.address, job.jobId, "device");
    try {
      const { task } = await device.next("task");
      const n = Number(task!.paramCount);
      await device.submit(
        { ...updateHeaderFor(task!), metrics: { updateNorm: reportedNorm } },
        encodeUpdate(fill(n), 16),
      );
      expect((await device.next("ended")).ended).toMatchObject({ state: "JOB_STATE_COMPLETED" });
      const [contribution] = await coordinator.store.contributions(job.jobId, 1);
      expect(contribution?.metrics.updateNorm).toBe(reportedNorm);
      return (await coordinator.store.getJob(job.jobId)).currentClipNorm;
    } finally {
      device.close();
    }
  }

  // γ = 0.5, η = 0.2: one unclipped update gives b̃ = 1 and C·e^(−0.1); one clipped, C·e^(0.1).
  const shrunk = Math.exp(-0.2 * (1 - 0.5));
  const grown = Math.exp(-0.2 * (0 - 0.5));

  it("counts a small update as within C whatever norm the device reports", async () => {
    // ‖Δ‖ = √68·10·scale ≈ 0.005, far below C = 1.
    const small = (n: number) => new Int32Array(n).fill(10);
    const lying = await nextClipNorm(small, 1e9);
    const truthful = await nextClipNorm(small, 0.005);
    expect(lying).toBeCloseTo(shrunk, 12);
    expect(lying).toBe(truthful);
  }, 60_000);

  it("counts an update at the clip bound as clipped though the device reports a tiny norm", async () => {
    // ‖Δ‖ ≈ 0.999·C: an update the device clipped.
    const atBound = (n: number) =>
      new Int32Array(n).fill(Math.floor((0.999 * 1) / scale / Math.sqrt(n)));
    expect(await nextClipNorm(atBound, 1e-6)).toBeCloseTo(grown, 12);
  }, 60_000);
});
