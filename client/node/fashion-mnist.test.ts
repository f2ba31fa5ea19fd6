import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../common/errors.js";
import { validateDataset } from "../../protocol/data/dataset.js";
import { DatasetNotFoundError, loadFashionMnist } from "./fashion-mnist.js";

describe("loadFashionMnist on the installed files", () => {
  it("reads the training split with the right shape, range and first label", async () => {
    const ds = await loadFashionMnist({ split: "train", limit: 1000 });
    expect(ds.size).toBe(1000);
    expect(ds.schema).toEqual({ featureShape: [28, 28, 1], min: 0, max: 1, classes: 10 });
    expect(ds.x.length).toBe(1000 * 784);
    // The first training image of Fashion-MNIST is an ankle boot.
    expect(ds.y[0]).toBe(9);
    expect(new Set(ds.y).size).toBe(10);
    expect(Math.max(...ds.x.subarray(0, 784))).toBeGreaterThan(0.9);
    validateDataset(ds);
  });

  it("reads the full test split", async () => {
    const ds = await loadFashionMnist({ split: "test" });
    expect(ds.size).toBe(10_000);
    expect(Math.min(...ds.y)).toBe(0);
    expect(Math.max(...ds.y)).toBe(9);
  });
});

describe("loadFashionMnist on crafted files", () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "fedproof-fmnist-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const header = (...words: number[]) => {
    const bytes = new Uint8Array(words.length * 4);
    const view = new DataView(bytes.buffer);
    words.forEach((word, i) => {
      view.setUint32(i * 4, word);
    });
    return bytes;
  };
  const concat = (a: Uint8Array, b: Uint8Array) => {
    const out = new Uint8Array(a.length + b.length);
    out.set(a);
    out.set(b, a.length);
    return out;
  };

  it("accepts uncompressed IDX files", async () => {
    const pixels = new Uint8Array(2 * 784).fill(255);
    pixels[0] = 0;
    await writeFile(
      path.join(dir, "t10k-images-idx3-ubyte"),
      concat(header(2051, 2, 28, 28), pixels),
    );
    await writeFile(
      path.join(dir, "t10k-labels-idx1-ubyte"),
      concat(header(2049, 2), Uint8Array.from([3, 7])),
    );
    const ds = await loadFashionMnist({ dir, split: "test" });
    expect(Array.from(ds.y)).toEqual([3, 7]);
    expect(ds.x[0]).toBe(0);
    expect(ds.x[1]).toBe(1);
  });

  it("rejects a wrong magic number or a truncated file", async () => {
    await writeFile(
      path.join(dir, "train-images-idx3-ubyte.gz"),
      gzipSync(concat(header(2049, 1, 28, 28), new Uint8Array(784))),
    );
    await writeFile(
      path.join(dir, "train-labels-idx1-ubyte"),
      concat(header(2049, 1), Uint8Array.from([1])),
    );
    await expect(loadFashionMnist({ dir, split: "train" })).rejects.toThrow(
      /magic number is 2049, expected 2051/,
    );
    await writeFile(
      path.join(dir, "train-images-idx3-ubyte.gz"),
      gzipSync(concat(header(2051, 1, 28, 28), new Uint8Array(700))),
    );
    await expect(loadFashionMnist({ dir, split: "train" })).rejects.toThrow(InvalidArgumentError);
  });

  it("names the Debian package when the data is missing", async () => {
    const missing = path.join(dir, "nowhere");
    const error = await loadFashionMnist({ dir: missing, split: "train" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DatasetNotFoundError);
    expect(String(error)).toContain("apt-get install dataset-fashion-mnist");
  });
});
