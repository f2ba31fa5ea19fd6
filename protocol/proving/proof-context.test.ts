import { describe, expect, it } from "vitest";
import { createChallengeChain } from "./challenge-seed.js";
import { sampledIndices } from "./dataset-commitment.js";
import { idToField } from "./field.js";
import { poseidonHash } from "./poseidon.js";
import { contextValue, DATA_VALIDITY_INDEX } from "./proof-context.js";

const base = {
  jobId: "job-1",
  round: 3,
  globalModelHash: `${"01".repeat(16)}${"02".repeat(16)}`,
  deviceId: "device-7",
  roundSeed: `${"0a".repeat(16)}${"0b".repeat(16)}`,
};

describe("contextValue", () => {
  it("is Poseidon of the ids, round, both model-hash halves, both seed halves and the slot", () => {
    const expected = poseidonHash([
      idToField("job-1"),
      3n,
      BigInt(`0x${"01".repeat(16)}`),
      BigInt(`0x${"02".repeat(16)}`),
      idToField("device-7"),
      BigInt(`0x${"0a".repeat(16)}`),
      BigInt(`0x${"0b".repeat(16)}`),
      DATA_VALIDITY_INDEX,
    ]);
    expect(contextValue(base, DATA_VALIDITY_INDEX)).toBe(expected);
  });

  it("changes with the round's seed, so the challenged records do too", () => {
    const chain = createChallengeChain(2);
    const round1 = { ...base, round: 1, roundSeed: chain.seeds[1]! };
    const otherSeed = { ...round1, roundSeed: createChallengeChain(2).seeds[1]! };
    const swapped = {
      ...round1,
      roundSeed: `${round1.roundSeed.slice(32)}${round1.roundSeed.slice(0, 32)}`,
    };
    const context = contextValue(round1, DATA_VALIDITY_INDEX);
    expect(contextValue(otherSeed, DATA_VALIDITY_INDEX)).not.toBe(context);
    // Both halves enter as separate elements: swapping them is another context.
    expect(contextValue(swapped, DATA_VALIDITY_INDEX)).not.toBe(context);
    // Everything but the seed is known before the task; the seed alone moves the indices.
    expect(sampledIndices(contextValue(otherSeed, DATA_VALIDITY_INDEX), 1 << 16, 8)).not.toEqual(
      sampledIndices(context, 1 << 16, 8),
    );
  });

  it("refuses a seed that is not 32 bytes of hex", () => {
    expect(() => contextValue({ ...base, roundSeed: "" }, 0)).toThrow(/32-byte hex hash/);
    expect(() => contextValue({ ...base, roundSeed: "ab".repeat(31) }, 0)).toThrow(
      /32-byte hex hash/,
    );
  });

  it("keeps chunk slots and the data-validity slot apart", () => {
    expect(contextValue(base, 0)).not.toBe(contextValue(base, DATA_VALIDITY_INDEX));
    expect(() => contextValue(base, DATA_VALIDITY_INDEX + 1n)).toThrow(/out of range/);
  });
});
