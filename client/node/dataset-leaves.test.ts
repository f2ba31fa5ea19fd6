import { describe, expect, it } from "vitest";
import {
  commitDataset,
  encodeRecord,
  recordLeaf,
} from "../../protocol/proving/dataset-commitment.js";
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
