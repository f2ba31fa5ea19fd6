import { describe, expect, it } from "vitest";
import {
  commitDataset,
  encodeRecord,
  recordLeaf,
} from "../../protocol/proving/dataset-commitment.js";
import { poseidonPermutationBigInt, SPONGE_RATE } from "../../protocol/proving/poseidon.js";
import { packValues } from "../../protocol/proving/update-commitment.js";
import { hashRecordLeaves } from "./dataset-leaves.js";

// Fashion-MNIST's shape: 784 byte features, a two-block sponge per leaf.
const parameters = {
  depth: 16,
  features: 784,
  samples: 2,
  featureBits: 8,
  labelBits: 8,
  attesterDepth: 0,
};
const encoding = { featureScale: 255, min: 0, max: 1 };
const records = Array.from({ length: 9 }, (_, i) =>
  encodeRecord(
    Array.from({ length: 784 }, (_, f) => ((i * 131 + f * 7) % 256) / 255),
    i % 10,
    encoding,
  ),
);

describe("hashRecordLeaves", () => {
  it("computes recordLeaf of every record on worker threads", async () => {
    const leaves = await hashRecordLeaves({ records, parameters, workers: 2 });
    expect(leaves).toEqual(records.map((r) => recordLeaf(r, parameters)));
    // The workers' WebAssembly sponge against the BigInt permutation, for the first record.
    const elements = [BigInt(records[0]!.label), ...packValues(records[0]!.values, 8)];
    let state: bigint[] = new Array(SPONGE_RATE + 1).fill(0n);
    state[0] = BigInt(elements.length);
    for (let start = 0; start < elements.length; start += SPONGE_RATE) {
      for (let j = 0; j < SPONGE_RATE; j++) state[j + 1]! += elements[start + j] ?? 0n;
      state = poseidonPermutationBigInt(state);
    }
    expect(leaves[0]).toBe(state[0]);
    const privateKey = new Uint8Array(32).fill(4);
    expect(commitDataset({ parameters, records, privateKey, leaves }).commitment).toBe(
      commitDataset({ parameters, records, privateKey }).commitment,
    );
  });

  it("refuses leaves that do not match the record count", () => {
    expect(() =>
      commitDataset({ parameters, records, privateKey: new Uint8Array(32).fill(4), leaves: [1n] }),
    ).toThrow(/precomputed leaves/);
  });
});
