import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Job, Queue } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { redisOptionsFromUrl } from "../coordinator/store/redis.js";
import { bullPrefix } from "../coordinator/workers/queues.js";
import { type RunningWorkers, startWorkers } from "../coordinator/workers/start-workers.js";
import { decodeModel } from "../protocol/model/weights.js";
import { encodeUpdate } from "../protocol/update/quantize.js";
import { startTestCoordinator, type TestCoordinator, testLogger } from "./harness/coordinator.js";
import { joinRawDevice } from "./harness/raw-device.js";
import { TEST_REDIS_URL } from "./harness/redis.js";

const BIN = fileURLToPath(new URL("../bin/fedproof.js", import.meta.url));
const schema = { featureShape: [16], min: 0, max: 1, classes: 4 };

describe("a worker process killed in the middle of aggregation", () => {
  let coordinator: TestCoordinator;
  let child: ChildProcess | undefined;
  let rescuer: RunningWorkers | undefined;

  beforeAll(async () => {
    // Verification runs here; aggregation only in the worker processes this test controls.
    coordinator = await startTestCoordinator("worker-crash", { workers: ["verify"] });
  });
  afterAll(async () => {
    child?.kill("SIGKILL");
    await rescuer?.close();
    await coordinator?.dispose();
  });

  it("leaves the job to BullMQ, which retries it, and the round completes with every accepted update", async () => {
    child = spawn(
      process.execPath,
      [
        BIN,
        "worker",
        "--redis-url",
        TEST_REDIS_URL,
        "--prefix",
        coordinator.prefix,
        "--store",
        coordinator.storeDir,
        "--queues",
        "aggregate",
        "--lock-duration",
        "2000",
        "--stalled-interval",
        "1000",
        "--log-level",
        "warn",
      ],
      {
        env: { ...process.env, FEDPROOF_FAILPOINTS: "aggregate-after-load=hang" },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let childErr = "";
    const hung = new Promise<void>((resolve) => {
      child!.stderr!.on("data", (chunk: Buffer) => {
        childErr += chunk.toString();
        if (childErr.includes("failpoint aggregate-after-load triggered")) resolve();
      });
    });
    const workerUp = new Promise<void>((resolve) => child!.stdout!.once("data", () => resolve()));
    await workerUp;

    const job = await coordinator.jobs.createJob({
      model: "logreg",
      schema,
      rounds: 1,
      clientsPerRound: 4,
      minClients: 4,
      overSelection: 1,
      clipNorm: 5,
    });
    const n = job.paramCount;
    const scale = job.spec.quantization.scale;
    const devices = await Promise.all(
      // Each device enrols with the sample count its update is then weighted by.
      [0, 1, 2, 3].map((i) => joinRawDevice(coordinator.address, job.jobId, `d${i}`, 10 * (i + 1))),
    );
    const sent: { q: Int32Array; samples: number }[] = [];
    try {
      await Promise.all(
        devices.map(async (device, i) => {
          const { task } = await device.next("task");
          const q = new Int32Array(n).map((_, j) => ((i + 1) * (j % 7) - 3 * i) % 50);
          const samples = 10 * (i + 1);
          sent.push({ q, samples });
          await device.submit(
            {
              jobId: job.jobId,
              round: 1,
              globalModelHash: task!.globalModelHash,
              samples,
              bits: 16,
              paramCount: String(n),
            },
            encodeUpdate(q, 16),
          );
        }),
      );
      await hung;
      expect((await coordinator.store.getRound(job.jobId, 1)).state).toBe("AGGREGATING");
      child.kill("SIGKILL");
      await new Promise((resolve) => child!.once("exit", resolve));

      // A fresh worker notices the dead worker's lock expire and takes the job over.
      rescuer = await startWorkers({
        redisUrl: TEST_REDIS_URL,
        prefix: coordinator.prefix,
        storeDir: coordinator.storeDir,
        kinds: ["aggregate"],
        logger: testLogger,
        lockDurationMs: 2000,
        stalledIntervalMs: 1000,
      });
      const deadline = Date.now() + 60_000;
      while ((await coordinator.store.getRound(job.jobId, 1)).state !== "COMPLETED") {
        if (Date.now() > deadline)
          throw new Error("round did not complete after the worker was killed");
        await new Promise((resolve) => setTimeout(resolve, 100));
      }

      const round = await coordinator.store.getRound(job.jobId, 1);
      expect(round.accepted).toBe(4);
      expect(await coordinator.store.contributions(job.jobId, 1)).toHaveLength(4);
      const global = decodeModel(await coordinator.artifacts.get(job.initialModelHash), n);
      const next = decodeModel(await coordinator.artifacts.get(round.modelHash), n);
      const totalSamples = sent.reduce((sum, s) => sum + s.samples, 0);
      for (let j = 0; j < n; j++) {
        let mean = 0;
        for (const s of sent) mean += (s.samples / totalSamples) * s.q[j]! * scale;
        expect(next[j]).toBeCloseTo(global[j]! + mean, 5);
      }
      const queue = new Queue("aggregate", {
        connection: redisOptionsFromUrl(TEST_REDIS_URL),
        prefix: bullPrefix(coordinator.prefix),
      });
      try {
        const bullJob = await Job.fromId(queue, `aggregate-${job.jobId}-1`);
        // The stalled job was taken over and completed by the second worker.
        expect(await bullJob?.isCompleted()).toBe(true);
      } finally {
        await queue.close();
      }
    } finally {
      for (const device of devices) device.close();
    }
  });
});
