import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../../common/errors.js";
import {
  parsePartition,
  parsePartitionSpec,
  partition,
  partitionDirichlet,
  partitionIid,
  partitionShards,
} from "./partition.js";

const CLASSES = 10;
const labels = Int32Array.from({ length: 3000 }, (_, i) => (i * 7) % CLASSES);

function expectExactCover(parts: number[][], n: number): void {
  const seen = new Uint8Array(n);
  for (const part of parts) {
    for (const index of part) {
      expect(seen[index]).toBe(0);
      seen[index] = 1;
    }
  }
  expect(seen.every((flag) => flag === 1)).toBe(true);
}

/** Mean over clients of the largest class's share of the client's data. */
function dominantShare(parts: number[][]): number {
  let total = 0;
  for (const part of parts) {
    const counts = new Array(CLASSES).fill(0);
    for (const index of part) counts[labels[index]]++;
    total += Math.max(...counts) / part.length;
  }
  return total / parts.length;
}

describe("partitionIid", () => {
  it("covers every index once in near-equal parts, deterministically", () => {
    const parts = partitionIid({ labels, clients: 7, seed: 1 });
    expectExactCover(parts, labels.length);
    for (const part of parts) expect(Math.abs(part.length - 3000 / 7)).toBeLessThan(1);
    expect(partitionIid({ labels, clients: 7, seed: 1 })).toEqual(parts);
    expect(partitionIid({ labels, clients: 7, seed: 2 })).not.toEqual(parts);
    expect(dominantShare(parts)).toBeLessThan(0.2);
  });
});

describe("partitionDirichlet", () => {
  it("covers every index once, deterministically", () => {
    const parts = partitionDirichlet({
      labels,
      classes: CLASSES,
      clients: 10,
      alpha: 0.5,
      seed: 3,
    });
    expectExactCover(parts, labels.length);
    expect(
      partitionDirichlet({ labels, classes: CLASSES, clients: 10, alpha: 0.5, seed: 3 }),
    ).toEqual(parts);
    expect(
      partitionDirichlet({ labels, classes: CLASSES, clients: 10, alpha: 0.5, seed: 4 }),
    ).not.toEqual(parts);
  });

  it("skews labels more as alpha shrinks", () => {
    const skew = (alpha: number) =>
      dominantShare(partitionDirichlet({ labels, classes: CLASSES, clients: 10, alpha, seed: 5 }));
    const small = skew(0.1);
    const large = skew(100);
    expect(small).toBeGreaterThan(0.45);
    expect(large).toBeLessThan(0.2);
  });

  it("honours minPerClient and refuses impossible requests", () => {
    const parts = partitionDirichlet({
      labels,
      classes: CLASSES,
      clients: 20,
      alpha: 0.1,
      seed: 6,
      minPerClient: 20,
    });
    for (const part of parts) expect(part.length).toBeGreaterThanOrEqual(20);
    expect(() =>
      partitionDirichlet({
        labels,
        classes: CLASSES,
        clients: 10,
        alpha: 0.5,
        seed: 0,
        minPerClient: 301,
      }),
    ).toThrow(InvalidArgumentError);
    expect(() =>
      partitionDirichlet({ labels, classes: 5, clients: 2, alpha: 0.5, seed: 0 }),
    ).toThrow(/label 7/);
  });
});

describe("partitionShards", () => {
  it("gives each client few classes and covers every index once", () => {
    const parts = partitionShards({ labels, clients: 10, shardsPerClient: 2, seed: 7 });
    expectExactCover(parts, labels.length);
    for (const part of parts) {
      expect(new Set(part.map((i) => labels[i])).size).toBeLessThanOrEqual(4);
    }
  });
});

describe("parsePartition", () => {
  it("parses the accepted forms", () => {
    expect(parsePartition("iid")).toEqual({ kind: "iid" });
    expect(parsePartition("dirichlet:0.5")).toEqual({ kind: "dirichlet", alpha: 0.5 });
    expect(parsePartitionSpec("shards:2")).toEqual({ kind: "shards", shardsPerClient: 2 });
  });

  it("rejects anything else with a clear error", () => {
    for (const bad of ["", "dirichlet", "dirichlet:0", "dirichlet:-1", "dirichlet:abc", "zipf:1"]) {
      expect(() => parsePartition(bad)).toThrow(InvalidArgumentError);
    }
    expect(() => parsePartition("foo")).toThrow(/expected "iid", "dirichlet:<alpha>"/);
    expect(() => parsePartition("shards:2")).toThrow(InvalidArgumentError);
  });

  it("dispatches a parsed spec", () => {
    const parts = partition({
      spec: parsePartition("dirichlet:0.3"),
      labels,
      classes: CLASSES,
      clients: 4,
      seed: 8,
    });
    expect(parts).toEqual(
      partitionDirichlet({ labels, classes: CLASSES, clients: 4, alpha: 0.3, seed: 8 }),
    );
  });
});
