import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../common/errors.js";
import { subset, validateDataset } from "../../protocol/data/dataset.js";
import {
  DatasetNotFoundError,
  DEFAULT_FASHION_MNIST_DIRECTORY,
  loadFashionMnist,
} from "./fashion-mnist.js";

const INSTALLED_FILES = [
  "train-images-idx3-ubyte",
  "train-labels-idx1-ubyte",
  "t10k-images-idx3-ubyte",
  "t10k-labels-idx1-ubyte",
];
const installed = INSTALLED_FILES.every((name) =>
  [name, `${name}.gz`].some((file) => existsSync(path.join(DEFAULT_FASHION_MNIST_DIRECTORY, file))),
);

// `npm test` must pass without the Debian package; CI installs it (.ci/run), so there a
// missing file is a failure, not a skip.
describe.runIf(installed || process.env.CI === "true")(
  "loadFashionMnist on the installed files",
  () => {
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
  },
);

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

/** Writes a split as IDX files: images with a ramp of pixel values, the given labels. */
async function writeSplit(
  dir: string,
  prefix: "train" | "t10k",
  labels: number[],
  gzip: boolean,
): Promise<Uint8Array> {
  const pixels = new Uint8Array(labels.length * 784).map((_, i) => (i * 7) % 256);
  const images = concat(header(2051, labels.length, 28, 28), pixels);
  const labelFile = concat(header(2049, labels.length), Uint8Array.from(labels));
  const suffix = gzip ? ".gz" : "";
  await writeFile(
    path.join(dir, `${prefix}-images-idx3-ubyte${suffix}`),
    gzip ? gzipSync(images) : images,
  );
  await writeFile(
    path.join(dir, `${prefix}-labels-idx1-ubyte${suffix}`),
    gzip ? gzipSync(labelFile) : labelFile,
  );
  return pixels;
}

describe("loadFashionMnist on IDX files the test writes", () => {
  let root: string;

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), "fedproof-fmnist-"));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  const freshDir = async (name: string) => {
    const dir = path.join(root, name);
    await mkdir(dir);
    return dir;
  };

  it.each([
    ["uncompressed", false],
    ["gzipped, as Debian ships them", true],
  ])("reads %s files: labels, pixels scaled to [0, 1], the limit", async (_kind, gzip) => {
    const dir = await freshDir(`read-${gzip ? "gz" : "plain"}`);
    const labels = [3, 7, 0, 9, 5];
    const pixels = await writeSplit(dir, "t10k", labels, gzip);
    const ds = await loadFashionMnist({ dir, split: "test" });
    expect(ds.size).toBe(5);
    expect(ds.schema).toEqual({ featureShape: [28, 28, 1], min: 0, max: 1, classes: 10 });
    expect(Array.from(ds.y)).toEqual(labels);
    expect(ds.x.length).toBe(5 * 784);
    for (const i of [0, 1, 100, 5 * 784 - 1]) expect(ds.x[i]).toBeCloseTo(pixels[i]! / 255, 6);
    validateDataset(ds);

    const limited = await loadFashionMnist({ dir, split: "test", limit: 2 });
    expect(limited.size).toBe(2);
    expect(Array.from(limited.y)).toEqual([3, 7]);
    expect(limited.x.length).toBe(2 * 784);
  });

  it("decodes only the records `select` picks from the labels, as subset would", async () => {
    const dir = await freshDir("select");
    const labels = [3, 7, 0, 9, 5];
    await writeSplit(dir, "t10k", labels, false);
    const all = await loadFashionMnist({ dir, split: "test" });
    const seen: number[][] = [];
    const picked = await loadFashionMnist({
      dir,
      split: "test",
      select: (y) => {
        seen.push(Array.from(y));
        return [4, 1];
      },
    });
    expect(seen).toEqual([labels]);
    expect(picked).toEqual(subset(all, [4, 1]));
    await expect(loadFashionMnist({ dir, split: "test", select: () => [5] })).rejects.toThrow(
      /outside \[0, 4\]/,
    );
  });

  it("prefers the gzipped file when both are present", async () => {
    const dir = await freshDir("both");
    await writeSplit(dir, "train", [1, 2], false);
    await writeSplit(dir, "train", [4], true);
    const ds = await loadFashionMnist({ dir, split: "train" });
    expect(Array.from(ds.y)).toEqual([4]);
  });

  it("rejects a wrong magic number, a truncated file or a label out of range", async () => {
    const dir = await freshDir("bad");
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
    await writeSplit(dir, "t10k", [10], true);
    await expect(loadFashionMnist({ dir, split: "test" })).rejects.toThrow(
      /label 10 at record 0 is not a class/,
    );
  });

  it("names the Debian package when the data is missing", async () => {
    const missing = path.join(root, "nowhere");
    const error = await loadFashionMnist({ dir: missing, split: "train" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DatasetNotFoundError);
    expect(String(error)).toContain("apt-get install dataset-fashion-mnist");
    const empty = await freshDir("empty");
    const noFile = await loadFashionMnist({ dir: empty, split: "test" }).catch((e: unknown) => e);
    expect(noFile).toBeInstanceOf(DatasetNotFoundError);
    expect(String(noFile)).toContain("t10k-images-idx3-ubyte(.gz) not found");
  });
});
