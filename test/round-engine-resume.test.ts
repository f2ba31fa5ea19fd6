import { rm } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RoundRecord } from "../coordinator/store/job-store.js";
import { type RunningWorkers, startWorkers } from "../coordinator/workers/start-workers.js";
import { encodeUpdate } from "../protocol/update/quantize.js";
import { startTestCoordinator, type TestCoordinator, testLogger } from "./harness/coordinator.js";
import { joinRawDevice, updateHeaderFor } from "./harness/raw-device.js";
import { TEST_REDIS_URL } from "./harness/redis.js";

const schema = { featureShape: [16], min: 0, max: 1, classes: 4 };

async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe("round engines resume what another left behind", () => {
  let first: TestCoordinator;
  let second: TestCoordinator | undefined;
  let workers: RunningWorkers | undefined;

  beforeAll(async () => {
    // No workers in process: each test decides what verifies and aggregates.
    first = await startTestCoordinator("engine-resume", { workers: [] });
  });
  afterAll(async () => {
    await workers?.close();
    await second?.stop();
    await first?.dispose();
  });

  it("moves on a job left RUNNING after its round COMPLETED (an engine died between the two writes)", async () => {
    const job = await first.jobs.createJob({ model: "logreg", schema, rounds: 1, minClients: 1 });
    const { store } = first;
    await store.transitionJobInRound(job.jobId, 0, "WAITING", "RUNNING", { currentRound: 1 });
    const round: RoundRecord = {
      round: 1,
      state: "COMPLETED",
      globalModelHash: job.initialModelHash,
      modelHash: job.initialModelHash,
      selected: 1,
      accepted: 1,
      rejected: 0,
      late: 0,
      target: 1,
      minClients: 1,
      startedAtMs: Date.now(),
      deadlineMs: Date.now(),
      closedAtMs: Date.now(),
      reason: "",
      epsilon: 0,
      anchorTx: "",
      contributionsRoot: "",
      clipNorm: 5,
      challengeSeed: "",
      aggregateHash: "",
    };
    await store.createRound(job.jobId, round, ["d0"]);
    // A new engine on the same Redis resumes it on start.
    second = await startTestCoordinator("engine-resume-2", {
      prefix: first.prefix,
      storeDir: first.storeDir,
      workers: [],
    });
    await until(async () => (await store.getJob(job.jobId)).state === "COMPLETED", 10_000);
    expect((await store.getJob(job.jobId)).reason).toBe("all 1 rounds completed");
  });

  it("sends the open round's task again to a selected device that reconnects", async () => {
    const job = await first.jobs.createJob({
      model: "logreg",
      schema,
      rounds: 1,
      clientsPerRound: 2,
      minClients: 2,
      overSelection: 1,
      roundDeadlineSeconds: 60,
    });
    const d0 = await joinRawDevice(first.address, job.jobId, "d0");
    const d1 = await joinRawDevice(first.address, job.jobId, "d1");
    try {
      const { task } = await d0.next("task");
      expect(task?.round).toBe(1);
      d0.close();
      // The same device (same key) on the other coordinator: a signed re-Join, a new stream.
      const again = await joinRawDevice(second!.address, job.jobId, "d0", 100, {
        privateKey: d0.privateKey,
      });
      try {
        const resent = await again.next("task", 10_000);
        expect(resent.task).toEqual(task);
      } finally {
        again.close();
      }
    } finally {
      d1.close();
    }
  });

  it("tells the device when its verification gives up, and frees its upload slot", async () => {
    const job = await first.jobs.createJob({
      model: "logreg",
      schema,
      rounds: 1,
      clientsPerRound: 1,
      minClients: 1,
      overSelection: 1,
      roundDeadlineSeconds: 60,
    });
    const device = await joinRawDevice(first.address, job.jobId, "d0");
    try {
      const { task } = await device.next("task");
      const n = job.paramCount;
      const header = updateHeaderFor(task!);
      const { updateHash } = await device.submit(header, encodeUpdate(new Int32Array(n), 16));
      // The stored bytes vanish before any worker reads them: every attempt fails, not the
      // update's fault.
      await rm(path.join(first.storeDir, updateHash.slice(0, 2), updateHash.slice(2)));
      workers = await startWorkers({
        redisUrl: TEST_REDIS_URL,
        prefix: first.prefix,
        storeDir: first.storeDir,
        kinds: ["verify"],
        logger: testLogger,
      });
      const { result } = await device.next("result", 20_000);
      expect(result?.accepted).toBe(false);
      expect(result?.reason).toMatch(/^verification gave up after 3 attempts .*upload it again$/);
      expect(await first.store.hasSubmitted(job.jobId, 1, "d0")).toBe(false);
      expect((await first.store.getRound(job.jobId, 1)).rejected).toBe(0);
      // The same device uploads again, and this time the update is judged (and accepted).
      await device.submit(header, encodeUpdate(new Int32Array(n), 16));
      const second = await device.next("result", 20_000);
      expect(second.result).toMatchObject({ round: 1, accepted: true });
    } finally {
      device.close();
    }
  });
});
