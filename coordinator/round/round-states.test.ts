import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deletePrefix, TEST_REDIS_URL, uniquePrefix } from "../../test/harness/redis.js";
import { InvalidTransitionError } from "../errors.js";
import { JobStore, type RoundRecord } from "../store/job-store.js";
import { assertRoundTransition, ROUND_STATES, ROUND_TRANSITIONS } from "./round-states.js";

describe("round state table", () => {
  it("allows exactly the moves in the table", () => {
    for (const from of ROUND_STATES) {
      for (const to of ROUND_STATES) {
        const allowed = ROUND_TRANSITIONS[from].includes(to);
        if (allowed) expect(() => assertRoundTransition(from, to)).not.toThrow();
        else expect(() => assertRoundTransition(from, to)).toThrow(InvalidTransitionError);
      }
    }
  });

  it("refuses leaving a terminal state and skipping aggregation", () => {
    expect(() => assertRoundTransition("COMPLETED", "OPEN")).toThrow(/from COMPLETED to OPEN/);
    expect(() => assertRoundTransition("OPEN", "COMPLETED")).toThrow(
      /allowed from OPEN: AGGREGATING, FAILED, CANCELLED/,
    );
    expect(() => assertRoundTransition("FAILED", "AGGREGATING")).toThrow(/none \(terminal\)/);
  });
});

describe("JobStore.transitionRound on a real Redis", () => {
  const prefix = uniquePrefix("round-states");
  let redis: Redis;
  let store: JobStore;
  const round: RoundRecord = {
    round: 1,
    state: "OPEN",
    globalModelHash: "a".repeat(64),
    modelHash: "",
    selected: 2,
    accepted: 0,
    rejected: 0,
    late: 0,
    target: 2,
    minClients: 1,
    startedAtMs: 1,
    deadlineMs: 2,
    closedAtMs: 0,
    reason: "",
    epsilon: 0,
    anchorTx: "",
    contributionsRoot: "",
    clipNorm: 1,
    challengeSeed: "",
    aggregateHash: "",
  };

  beforeAll(async () => {
    redis = new Redis(TEST_REDIS_URL);
    store = new JobStore({ redis, prefix });
    await store.createRound("job-1", round, ["d1", "d2"]);
  });
  afterAll(async () => {
    redis.disconnect();
    await deletePrefix(prefix);
  });

  it("refuses a move the table forbids and leaves the state alone", async () => {
    await expect(store.transitionRound("job-1", 1, "OPEN", "COMPLETED")).rejects.toThrow(
      InvalidTransitionError,
    );
    expect((await store.getRound("job-1", 1)).state).toBe("OPEN");
  });

  it("refuses a move from a state the round is not in (compare-and-set)", async () => {
    await expect(store.transitionRound("job-1", 1, "AGGREGATING", "COMPLETED")).rejects.toThrow(
      /is OPEN, not AGGREGATING/,
    );
    expect((await store.getRound("job-1", 1)).state).toBe("OPEN");
  });

  it("lets exactly one of two concurrent closers win", async () => {
    const results = await Promise.allSettled([
      store.transitionRound("job-1", 1, "OPEN", "AGGREGATING"),
      store.transitionRound("job-1", 1, "OPEN", "FAILED"),
    ]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    expect(["AGGREGATING", "FAILED"]).toContain((await store.getRound("job-1", 1)).state);
  });

  it("records no contribution once the round left OPEN", async () => {
    const count = await store.recordContribution({
      jobId: "job-1",
      round: 1,
      deviceId: "d1",
      updateHash: "b".repeat(64),
      samples: 1,
      bits: 16,
      paramCount: 1,
      commitment: "",
      proofs: [],
      metrics: {
        trainLoss: 0,
        trainSeconds: 0,
        holdoutAccuracy: 0,
        holdoutLoss: 0,
        holdoutSamples: 0,
        updateNorm: 0,
        proveSeconds: 0,
      },
      receivedAtMs: 0,
    });
    expect(count).toBe(-1);
    expect(await store.contributions("job-1", 1)).toEqual([]);
  });
});
