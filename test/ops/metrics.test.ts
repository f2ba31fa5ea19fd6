import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { partitionIid } from "../../client/core/data/partition.js";
import { syntheticDataset } from "../../client/core/data/synthetic.js";
import { selectBackend } from "../../client/node/backend.js";
import { submitUpdate } from "../../client/node/coordinator-client.js";
import { Device } from "../../client/node/device.js";
import { createFedproofClients, type FedproofClients, unary } from "../../proto/clients.js";
import { subset } from "../../protocol/data/dataset.js";
import { type CliProcess, spawnCli } from "../harness/cli-process.js";
import { startTestCoordinator, type TestCoordinator, testLogger } from "../harness/coordinator.js";
import { deletePrefix, TEST_REDIS_URL, uniquePrefix } from "../harness/redis.js";
import { scrape } from "./ops-fixtures.js";

const schema = { featureShape: [16], min: 0, max: 1, classes: 4 };

describe("Prometheus metrics of a coordinator running a real round", () => {
  let coordinator: TestCoordinator;
  let clients: FedproofClients;

  beforeAll(async () => {
    await selectBackend({ preferred: "cpu" });
    coordinator = await startTestCoordinator("metrics", { metrics: { port: 0 } });
    clients = createFedproofClients(coordinator.address);
  });
  afterAll(async () => {
    clients?.close();
    await coordinator?.dispose();
  });

  it("counts rounds, Joins, devices online, updates received and accepted, and queue depths", async () => {
    const url = coordinator.metricsUrl!;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const before = await scrape(url);
    expect(before.get("fedproof_rounds_started_total")).toBe(0);
    expect(before.get("fedproof_updates_accepted_total")).toBe(0);
    expect(before.get('fedproof_queue_jobs{queue="verify",state="waiting"}')).toBe(0);
    expect(before.get('fedproof_queue_jobs{queue="aggregate",state="active"}')).toBe(0);

    const job = await coordinator.jobs.createJob({
      model: "logreg",
      schema,
      rounds: 2,
      clientsPerRound: 3,
      minClients: 3,
      overSelection: 1,
      roundDeadlineSeconds: 60,
      clipNorm: 5,
      training: { learningRate: 0.2, epochs: 1 },
    });
    const pool = syntheticDataset({ samples: 600, seed: 2 });
    const parts = partitionIid({ labels: pool.y, clients: 3, seed: 2 });
    const devices = parts.map(
      (indices, i) =>
        new Device({
          address: coordinator.address,
          jobId: job.jobId,
          deviceId: `metrics-device-${i}`,
          data: subset(pool, indices),
          seed: 200 + i,
          logger: testLogger,
        }),
    );
    const running = Promise.all(devices.map((device) => device.run()));
    // Mid-job: the devices hold their task streams open.
    await expect
      .poll(async () => (await scrape(url)).get("fedproof_devices_online"), { timeout: 60_000 })
      .toBe(3);
    const results = await running;
    for (const result of results) expect(result.jobState).toBe("JOB_STATE_COMPLETED");

    // Refusals at the door, counted by their error class.
    await expect(
      submitUpdate(
        clients.coordinator,
        { sessionToken: "not-a-session", jobId: job.jobId, round: 1 },
        new Uint8Array(8),
      ),
    ).rejects.toMatchObject({ code: 16 });
    await expect(
      unary((cb) => clients.coordinator.join({ jobId: "no-such-job", deviceId: "x" }, cb)),
    ).rejects.toBeDefined();

    // The engine ends the last round just after the devices hear the job ended.
    await expect
      .poll(async () => (await scrape(url)).get('fedproof_rounds_ended_total{state="completed"}'))
      .toBe(2);
    const after = await scrape(url);
    expect(after.get("fedproof_rounds_started_total")).toBe(2);
    expect(after.get("fedproof_updates_accepted_total")).toBe(6);
    // Every upload answered is accepted after verification or refused, at the door or by the
    // verify worker (a device that uploads after the round closed is refused as late).
    const refused = [...after]
      .filter(([key]) => key.startsWith("fedproof_updates_rejected_total{"))
      .reduce((sum, [, value]) => sum + value, 0);
    expect(after.get("fedproof_updates_received_total")).toBe(6 + refused);
    expect(
      after.get('fedproof_updates_rejected_total{stage="upload",reason="UnauthenticatedError"}'),
    ).toBe(1);
    expect(
      after.get('fedproof_update_verification_seconds_count{proofs="no",outcome="accepted"}'),
    ).toBe(6);
    expect(after.get('fedproof_joins_total{result="ok"}')).toBe(3);
    const refusedJoins = [...after.keys()].filter((key) =>
      /^fedproof_joins_total\{result="(?!ok")[A-Za-z]+"\}$/.test(key),
    );
    expect(refusedJoins).toHaveLength(1);
    await expect.poll(async () => (await scrape(url)).get("fedproof_devices_online")).toBe(0);
    // Process metrics come along.
    expect(after.has("process_cpu_user_seconds_total")).toBe(true);
  });
});

describe("Prometheus metrics of a `fedproof worker` started alone", () => {
  const prefix = uniquePrefix("metrics-worker");
  let worker: CliProcess | undefined;

  afterAll(async () => {
    if (worker && worker.child.exitCode === null) {
      worker.child.kill("SIGTERM");
      await worker.exited;
    }
    await deletePrefix(prefix);
  });

  it("serves the depths of its own queues", async () => {
    worker = spawnCli([
      "worker",
      "--redis-url",
      TEST_REDIS_URL,
      "--prefix",
      prefix,
      "--queues",
      "verify,aggregate",
      "--metrics-port",
      "0",
      "--json",
    ]);
    await expect.poll(() => worker!.stdout(), { timeout: 60_000 }).toMatch(/"metricsUrl"/);
    const { metricsUrl } = JSON.parse(worker.stdout()) as { metricsUrl: string };
    const samples = await scrape(metricsUrl);
    expect(samples.get('fedproof_queue_jobs{queue="verify",state="waiting"}')).toBe(0);
    expect(samples.get('fedproof_queue_jobs{queue="aggregate",state="waiting"}')).toBe(0);
    expect(samples.get("fedproof_updates_accepted_total")).toBe(0);
    worker.child.kill("SIGTERM");
    expect((await worker.exited).code).toBe(0);
  });
});
