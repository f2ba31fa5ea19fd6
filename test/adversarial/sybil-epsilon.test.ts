import { describe, expect, it } from "vitest";
import { renderJob } from "../../cli/render-job.js";
import { joinJob } from "../../client/node/coordinator-client.js";
import { epsilonAfter } from "../../coordinator/privacy/rdp-accountant.js";
import { createFedproofClients, unary } from "../../proto/clients.js";
import type { JobInfo__Output } from "../../proto/generated/fedproof/v1/JobInfo.js";
import type { JobSpecInput } from "../../protocol/job/job-spec.js";
import { randomPrivateKey } from "../../protocol/proving/eddsa-poseidon.js";
import { startAdversarialCoordinator } from "../harness/adversarial-coordinator.js";
import { SMALL_SCHEMA } from "../harness/job-specs.js";
import { joinRawDevice, updateHeaderFor, zeroUpdateFor } from "../harness/raw-device.js";

const z = 0.8;
const delta = 1e-5;

/**
 * Amplification by sampling lowers ε as the population grows. Were the population the
 * devices registered, anyone could lower the reported ε for free by joining under fresh
 * ids; it must come from the spec instead.
 */
describe("ε under sybil joins", () => {
  const target = startAdversarialCoordinator("sybil-epsilon");

  const spec = (privacy: JobSpecInput["privacy"] = {}): JobSpecInput => ({
    model: "logreg",
    schema: SMALL_SCHEMA,
    rounds: 1,
    clientsPerRound: 2,
    minClients: 2,
    minAvailableClients: 2,
    overSelection: 1,
    privacy: { noiseMultiplier: z, delta, ...privacy },
  });

  /** One round with 2 honest devices (zero updates) after `fakes` sybil joins; the job's status. */
  async function runRound(privacy: JobSpecInput["privacy"], fakes: number) {
    const { coordinator } = target;
    const job = await coordinator.jobs.createJob(spec(privacy));
    const clients = createFedproofClients(coordinator.address);
    try {
      for (let i = 0; i < fakes; i++) {
        await joinJob(clients.coordinator, {
          jobId: job.jobId,
          deviceId: `sybil-${i}`,
          samples: 100,
          privateKey: randomPrivateKey(),
        });
      }
      const honest = await Promise.all(
        ["honest-a", "honest-b"].map((id) => joinRawDevice(coordinator.address, job.jobId, id)),
      );
      try {
        await Promise.all(
          honest.map(async (device) => {
            const { task } = await device.next("task");
            await device.submit(updateHeaderFor(task!), zeroUpdateFor(task!));
            await device.next("ended");
          }),
        );
      } finally {
        for (const device of honest) device.close();
      }
      expect(await coordinator.store.countDevices(job.jobId)).toBe(fakes + 2);
      const info = await unary<JobInfo__Output>((cb) =>
        clients.jobs.getJob({ jobId: job.jobId }, cb),
      );
      expect(info.state).toBe("JOB_STATE_COMPLETED");
      return info;
    } finally {
      clients.close();
    }
  }

  it("reports the same ε with 8 fake joins beside 2 honest devices as with the 2 alone", async () => {
    const alone = await runRound({}, 0);
    const flooded = await runRound({}, 8);
    // Default population: no amplification, q = 1, whoever joined.
    const unamplified = epsilonAfter({ q: 1, noiseMultiplier: z, rounds: 1, delta }).epsilon;
    expect(alone.rounds[0]!.epsilon).toBeCloseTo(unamplified, 9);
    expect(flooded.rounds[0]!.epsilon).toBe(alone.rounds[0]!.epsilon);
    // What the fakes would have bought when q was clientsPerRound / registered devices:
    const sybilQ = epsilonAfter({ q: 2 / 10, noiseMultiplier: z, rounds: 1, delta }).epsilon;
    expect(flooded.rounds[0]!.epsilon).toBeGreaterThan(sybilQ);
    expect(flooded.population).toBe("no amplification (q = 1)");
    expect(flooded.samplingRate).toBe(1);
  });

  it("accounts a declared population and says so in the job's status", async () => {
    const info = await runRound({ population: 1000 }, 8);
    expect(info.population).toBe("declared 1000 (q = 0.002)");
    expect(info.samplingRate).toBe(0.002);
    expect(info.spec!.privacy!.population).toBe("1000");
    const declared = epsilonAfter({ q: 0.002, noiseMultiplier: z, rounds: 1, delta }).epsilon;
    expect(info.rounds[0]!.epsilon).toBeCloseTo(declared, 9);
    expect(renderJob(info)).toMatch(/population: declared 1000 \(q = 0\.002\)/);
  });
});
