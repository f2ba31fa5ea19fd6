import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deletePrefix, TEST_REDIS_URL, uniquePrefix } from "../../test/harness/redis.js";
import { type DeviceRecord, JobStore } from "./job-store.js";

const device = (deviceId: string, datasetCommitment: string): DeviceRecord => ({
  deviceId,
  publicKey: "aa".repeat(64),
  datasetCommitment,
  datasetSignature: "",
  samples: 10,
  platform: "test",
  backend: "cpu",
  payoutAddress: "",
  joinedAtMs: 0,
});

describe("dataset claims (one dataset, one device per job)", () => {
  const prefix = uniquePrefix("dataset-claims");
  let redis: Redis;
  let store: JobStore;

  beforeAll(() => {
    redis = new Redis(TEST_REDIS_URL);
    store = new JobStore({ redis, prefix });
  });

  afterAll(async () => {
    redis.disconnect();
    await deletePrefix(prefix);
  });

  it("keeps the first claim against a second device", async () => {
    expect(await store.claimDataset("job-a", "c1", "first")).toBe("first");
    expect(await store.claimDataset("job-a", "c1", "second")).toBe("first");
  });

  it("releases a squatter's claim when it is excluded, so the real holder can enrol", async () => {
    await store.registerDevice("job-b", device("squatter", "c2"));
    expect(await store.claimDataset("job-b", "c2", "squatter")).toBe("squatter");
    expect(await store.claimDataset("job-b", "c2", "holder")).toBe("squatter");
    await store.excludeDevice("job-b", "squatter", { round: 1, reason: "x", excludedAtMs: 0 });
    expect(await store.claimDataset("job-b", "c2", "holder")).toBe("holder");
  });

  it("never releases a claim that another device holds", async () => {
    await store.registerDevice("job-c", device("other", "c3"));
    expect(await store.claimDataset("job-c", "c3", "owner")).toBe("owner");
    await store.excludeDevice("job-c", "other", { round: 1, reason: "x", excludedAtMs: 0 });
    expect(await store.claimDataset("job-c", "c3", "late")).toBe("owner");
  });
});
