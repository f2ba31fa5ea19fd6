import { rm } from "node:fs/promises";
import { Cluster } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { partitionIid } from "../../client/core/data/partition.js";
import { syntheticDataset } from "../../client/core/data/synthetic.js";
import { selectBackend } from "../../client/node/backend.js";
import { Device } from "../../client/node/device.js";
import { connectRedis, deleteKeysWithPrefix } from "../../coordinator/store/redis.js";
import { bullPrefix } from "../../coordinator/workers/queues.js";
import { subset } from "../../protocol/data/dataset.js";
import { startTestCoordinator, type TestCoordinator, testLogger } from "../harness/coordinator.js";
import { joinRawDevice } from "../harness/raw-device.js";
import { uniquePrefix } from "../harness/redis.js";
import { startRedisCluster, type TestRedisCluster } from "../harness/redis-cluster.js";

const schema = { featureShape: [16], min: 0, max: 1, classes: 4 };
const spec = {
  model: "logreg",
  schema,
  rounds: 2,
  clientsPerRound: 3,
  minClients: 3,
  overSelection: 1,
  roundDeadlineSeconds: 60,
  clipNorm: 5,
  training: { learningRate: 0.2, epochs: 2 },
};

describe("a full job on a three-master Redis Cluster", () => {
  let cluster: TestRedisCluster;
  let coordinator: TestCoordinator;
  let redis: Cluster;
  let stopped = false;
  const prefix = uniquePrefix("cluster-round");

  beforeAll(async () => {
    await selectBackend({ preferred: "cpu" });
    cluster = await startRedisCluster();
    // The store, the in-process workers' BullMQ connections and the pub/sub subscriber all
    // follow the several-host URL.
    coordinator = await startTestCoordinator("cluster-round", { redisUrl: cluster.url, prefix });
    const client = await connectRedis(cluster.url);
    if (!(client instanceof Cluster)) throw new Error("a several-host URL must give a Cluster");
    redis = client;
  });
  afterAll(async () => {
    redis?.disconnect();
    // dispose() would clean up on the shared test Redis; this state dies with the cluster.
    if (!stopped) await coordinator?.stop();
    if (coordinator) await rm(coordinator.storeDir, { recursive: true, force: true });
    await cluster?.stop();
  });

  /** Every key under the prefix, by the master that holds it (SCAN sees one node's slots). */
  async function keysByMaster(pattern = `${prefix}:*`): Promise<Map<string, string[]>> {
    const found = new Map<string, string[]>();
    for (const node of redis.nodes("master")) {
      const keys: string[] = [];
      let cursor = "0";
      do {
        const [next, batch] = await node.scan(cursor, "MATCH", pattern, "COUNT", 1000);
        cursor = next;
        keys.push(...batch);
      } while (cursor !== "0");
      found.set(`${node.options.host}:${node.options.port}`, keys);
    }
    return found;
  }

  async function slotOf(key: string): Promise<number> {
    return Number(await redis.cluster("KEYSLOT", key));
  }

  it("runs two rounds with three devices to completion", async () => {
    const job = await coordinator.jobs.createJob(spec);
    const pool = syntheticDataset({ samples: 600, seed: 2 });
    const parts = partitionIid({ labels: pool.y, clients: 3, seed: 2 });
    const devices = parts.map(
      (indices, i) =>
        new Device({
          address: coordinator.address,
          jobId: job.jobId,
          deviceId: `device-${i}`,
          data: subset(pool, indices),
          seed: 200 + i,
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
    expect(info.rounds?.map((round) => [round.state, round.accepted])).toEqual([
      ["ROUND_STATE_COMPLETED", 3],
      ["ROUND_STATE_COMPLETED", 3],
    ]);
    expect(info.rounds?.[1]?.globalModelHash).toBe(info.rounds?.[0]?.modelHash);
    expect(await coordinator.store.jobOfModel(info.currentModelHash!)).toBe(job.jobId);

    // Every key the job left (job, rounds, selections, contributions, devices, sessions, …)
    // sits in one slot, on one master: its scripts and MULTIs could not have run otherwise.
    const byMaster = await keysByMaster(`${prefix}:{job:${job.jobId}}*`);
    const holders = [...byMaster].filter(([, keys]) => keys.length > 0);
    expect(holders).toHaveLength(1);
    const jobKeys = holders[0]![1];
    expect(jobKeys).toEqual(
      expect.arrayContaining([
        coordinator.store.keys.job(job.jobId),
        coordinator.store.keys.round(job.jobId, 2),
        coordinator.store.keys.contributions(job.jobId, 2),
        coordinator.store.keys.devices(job.jobId),
        coordinator.store.keys.deviceSessions(job.jobId),
      ]),
    );
    const slots = new Set(await Promise.all(jobKeys.map(slotOf)));
    expect(slots).toEqual(new Set([await slotOf(coordinator.store.keys.job(job.jobId))]));

    // BullMQ's keys share the prefix's hash tag, so its Lua scripts ran in one slot too.
    const bullKeys = [...(await keysByMaster(`${bullPrefix(prefix)}:*`)).values()].flat();
    expect(bullKeys.length).toBeGreaterThan(0);
    expect(new Set(await Promise.all(bullKeys.map(slotOf))).size).toBe(1);
  });

  it("spreads different jobs over the masters, one master per job", async () => {
    // Job ids are random UUIDs, each master owns a third of the slots: twelve jobs all on one
    // master would be a 1 in 177,147 chance.
    const jobs = await Promise.all(
      Array.from({ length: 12 }, () => coordinator.jobs.createJob(spec)),
    );
    const byMaster = await keysByMaster();
    const mastersOf = (jobId: string) =>
      [...byMaster]
        .filter(([, keys]) => keys.some((key) => key.startsWith(`${prefix}:{job:${jobId}}`)))
        .map(([master]) => master);
    const used = new Set<string>();
    for (const job of jobs) {
      const masters = mastersOf(job.jobId);
      expect(masters).toHaveLength(1);
      used.add(masters[0]!);
    }
    expect(used.size).toBeGreaterThan(1);
  });

  it("revokes a device's previous session on a re-Join, in the job's slot", async () => {
    const job = await coordinator.jobs.createJob(spec);
    const first = await joinRawDevice(coordinator.address, job.jobId, "rejoiner");
    const second = await joinRawDevice(coordinator.address, job.jobId, "rejoiner", 100, {
      privateKey: first.privateKey,
    });
    try {
      expect(await coordinator.store.findSession(first.session.sessionToken)).toBeUndefined();
      expect(await coordinator.store.findSession(second.session.sessionToken)).toMatchObject({
        jobId: job.jobId,
        deviceId: "rejoiner",
      });
    } finally {
      first.close();
      second.close();
    }
  });

  it("deletes every key of the prefix, BullMQ's too, on every master", async () => {
    // Stopped first, so no engine or worker writes again behind the deletion.
    await coordinator.stop();
    stopped = true;
    expect([...(await keysByMaster()).values()].flat().length).toBeGreaterThan(0);
    await deleteKeysWithPrefix(cluster.url, prefix);
    expect([...(await keysByMaster()).values()].flat()).toEqual([]);
  });
});
