import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseJobSpec } from "../../protocol/job/job-spec.js";
import { deletePrefix, TEST_REDIS_URL, uniquePrefix } from "../../test/harness/redis.js";
import { type JobRecord, JobStore } from "../store/job-store.js";
import {
  composedEpsilon,
  epsilonAfterRounds,
  freezeSamplingPopulation,
  privacyEpsilon,
  samplingRates,
} from "./job-epsilon.js";

const schema = { featureShape: [16], min: 0, max: 1, classes: 4 };
const attesters = { root: "1", depth: 2 };

describe("the attested DP population", () => {
  const prefix = uniquePrefix("job-epsilon");
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

  const job = (jobId: string, spec: Parameters<typeof parseJobSpec>[0]): JobRecord =>
    ({ jobId, spec: parseJobSpec(spec) }) as JobRecord;

  it("is the distinct nullifiers as each round started, frozen for the round", async () => {
    const record = job("attested", {
      schema,
      proofs: true,
      attesters,
      clientsPerRound: 4,
      overSelection: 1,
      privacy: { noiseMultiplier: 1, population: "attested" },
    });
    // Round 1 starts before any data proof: N = 0, q = 1.
    await freezeSamplingPopulation(store, record, 1);
    for (let i = 0; i < 8; i++) await store.recordNullifier("attested", `d${i}`, String(100 + i));
    // The same dataset again adds nothing; so does a device showing a second nullifier.
    expect(await store.recordNullifier("attested", "copy", "100")).toEqual({
      status: "taken",
      deviceId: "d0",
    });
    expect(await store.recordNullifier("attested", "d1", "999")).toEqual({
      status: "changed",
      nullifier: "101",
    });
    await freezeSamplingPopulation(store, record, 2);
    // Enrolments after round 2 started do not move its population.
    await store.recordNullifier("attested", "d8", "108");
    await freezeSamplingPopulation(store, record, 2);
    expect(await samplingRates(store, record, 2)).toEqual([1, 0.5]);
    expect(await epsilonAfterRounds(store, record, 2)).toBeCloseTo(
      composedEpsilon(record.spec, [1, 0.5]),
      12,
    );
    // Round 3 was never frozen (started before this accounting existed): q = 1, a true bound.
    expect(await samplingRates(store, record, 3)).toEqual([1, 0.5, 1]);
  });

  it("never amplifies in a job without attesters, whose nullifiers are self-attested", async () => {
    const record = job("self", {
      schema,
      proofs: true,
      privacy: { noiseMultiplier: 1, population: "attested" },
    });
    for (let i = 0; i < 8; i++) await store.recordNullifier("self", `d${i}`, String(i + 1));
    await freezeSamplingPopulation(store, record, 1);
    expect(await samplingRates(store, record, 1)).toEqual([1]);
  });

  it("composes rounds of different q by adding their RDP", () => {
    const spec = parseJobSpec({ schema, privacy: { noiseMultiplier: 1.2 } });
    expect(composedEpsilon(spec, [0.1, 0.1, 0.1])).toBeCloseTo(privacyEpsilon(spec, 0.1, 3), 12);
    const mixed = composedEpsilon(spec, [1, 0.1, 0.1]);
    expect(mixed).toBeGreaterThan(privacyEpsilon(spec, 0.1, 3));
    expect(mixed).toBeLessThan(privacyEpsilon(spec, 1, 3));
  });
});
