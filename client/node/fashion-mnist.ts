import { constants as fsConstants } from "node:fs";
import { access, readFile } from "node:fs/promises";
import * as path from "node:path";
import { promisify } from "node:util";
import { gunzip } from "node:zlib";
import { FedproofError, InvalidArgumentError } from "../../common/errors.js";
import type { Dataset } from "../../protocol/data/dataset.js";

export const DEFAULT_FASHION_MNIST_DIRECTORY = "/usr/share/datasets/fashion-mnist";

export const FASHION_MNIST_CLASSES = [
  "T-shirt/top",
  "Trouser",
  "Pullover",
  "Dress",
  "Coat",
  "Sandal",
  "Shirt",
  "Sneaker",
  "Bag",
  "Ankle boot",
] as const;

export interface LoadFashionMnistParameters {
  /** Default /usr/share/datasets/fashion-mnist (Debian package dataset-fashion-mnist). */
  dir?: string;
  split: "train" | "test";
  /** Keep only the first `limit` records. */
  limit?: number;
  /**
   * Picks the records to decode, in order, from all the (limited) split's labels, as `subset`
   * would pick them: a simulated device holding 1/N of the pool (partitioned by label) keeps
   * 1/N of its floats in memory, and decodes no others.
   */
  select?: (labels: Int32Array) => ArrayLike<number>;
}

/** The data files are not on this machine; an operator must install them. */
export class DatasetNotFoundError extends FedproofError {
  override name = "DatasetNotFoundError";
  constructor(shortMessage: string, parameters: { details?: string; cause?: unknown } = {}) {
    super(shortMessage, { ...parameters, code: "FAILED_PRECONDITION" });
  }
}

const IMAGES_MAGIC = 0x00000803;
const LABELS_MAGIC = 0x00000801;
const SIDE = 28;
const gunzipAsync = promisify(gunzip);

/**
 * Reads Fashion-MNIST from its IDX files (gzipped or not): pixels scaled to [0, 1],
 * featureShape [28, 28, 1], 10 classes. Headers are checked, so a truncated or mismatched
 * file fails here rather than as a silently wrong model.
 */
export async function loadFashionMnist(p: LoadFashionMnistParameters): Promise<Dataset> {
  const dir = p.dir ?? DEFAULT_FASHION_MNIST_DIRECTORY;
  if (p.limit !== undefined && (!Number.isInteger(p.limit) || p.limit < 0)) {
    throw new InvalidArgumentError(`limit must be a non-negative integer, got ${p.limit}`);
  }
  try {
    await access(dir, fsConstants.R_OK);
  } catch (error) {
    throw new DatasetNotFoundError(`Fashion-MNIST directory ${dir} not found`, {
      details: "install the data with `apt-get install dataset-fashion-mnist`",
      cause: error,
    });
  }
  const prefix = p.split === "train" ? "train" : "t10k";
  // Both read at once, but a missing images file is named before a missing labels file
  // whichever read fails first: the error must not depend on the file system's timing.
  const [readImages, readLabels] = await Promise.allSettled([
    readIdx(dir, `${prefix}-images-idx3-ubyte`),
    readIdx(dir, `${prefix}-labels-idx1-ubyte`),
  ]);
  if (readImages.status === "rejected") throw readImages.reason;
  if (readLabels.status === "rejected") throw readLabels.reason;
  const images = readImages.value;
  const labels = readLabels.value;

  const imageView = headerView(images.bytes, 16, images.file);
  const labelView = headerView(labels.bytes, 8, labels.file);
  expectHeader(images.file, "magic number", imageView.getUint32(0), IMAGES_MAGIC);
  expectHeader(labels.file, "magic number", labelView.getUint32(0), LABELS_MAGIC);
  const count = imageView.getUint32(4);
  expectHeader(images.file, "rows", imageView.getUint32(8), SIDE);
  expectHeader(images.file, "columns", imageView.getUint32(12), SIDE);
  expectHeader(labels.file, "record count", labelView.getUint32(4), count);
  const pixels = SIDE * SIDE;
  expectHeader(images.file, "byte length", images.bytes.byteLength, 16 + count * pixels);
  expectHeader(labels.file, "byte length", labels.bytes.byteLength, 8 + count);

  const available = Math.min(count, p.limit ?? count);
  const allLabels = new Int32Array(available);
  const rawLabels = labels.bytes.subarray(8, 8 + available);
  for (let i = 0; i < available; i++) {
    if (rawLabels[i] >= FASHION_MNIST_CLASSES.length) {
      throw new InvalidArgumentError(
        `${labels.file}: label ${rawLabels[i]} at record ${i} is not a class`,
      );
    }
    allLabels[i] = rawLabels[i];
  }
  const selected = p.select?.(allLabels);
  const size = selected ? selected.length : available;
  const x = new Float32Array(size * pixels);
  const y = selected ? new Int32Array(size) : allLabels;
  const raw = images.bytes.subarray(16);
  for (let i = 0; i < size; i++) {
    const source = selected ? selected[i]! : i;
    if (!Number.isInteger(source) || source < 0 || source >= available) {
      throw new InvalidArgumentError(
        `record index ${source} (position ${i}) is outside [0, ${available - 1}]`,
      );
    }
    y[i] = allLabels[source]!;
    const from = source * pixels;
    for (let k = 0; k < pixels; k++) x[i * pixels + k] = raw[from + k] / 255;
  }
  return {
    schema: {
      featureShape: [SIDE, SIDE, 1],
      min: 0,
      max: 1,
      classes: FASHION_MNIST_CLASSES.length,
    },
    x,
    y,
    size,
  };
}

/** Reads `<name>.gz` if present (as Debian ships it), else the plain IDX file. */
async function readIdx(dir: string, name: string): Promise<{ file: string; bytes: Uint8Array }> {
  const gzipped = path.join(dir, `${name}.gz`);
  try {
    const compressed = await readFile(gzipped);
    return { file: gzipped, bytes: new Uint8Array(await gunzipAsync(compressed)) };
  } catch (error) {
    if (!isMissing(error)) {
      throw new InvalidArgumentError(`cannot read ${gzipped}`, { cause: error });
    }
  }
  const plain = path.join(dir, name);
  try {
    return { file: plain, bytes: new Uint8Array(await readFile(plain)) };
  } catch (error) {
    if (isMissing(error)) {
      throw new DatasetNotFoundError(`Fashion-MNIST file ${name}(.gz) not found in ${dir}`, {
        details: "install the data with `apt-get install dataset-fashion-mnist`",
        cause: error,
      });
    }
    throw error;
  }
}

function headerView(bytes: Uint8Array, headerBytes: number, file: string): DataView {
  if (bytes.byteLength < headerBytes) {
    throw new InvalidArgumentError(
      `${file} is too short for an IDX header (${bytes.byteLength} bytes)`,
    );
  }
  // IDX headers are big-endian; DataView reads big-endian by default.
  return new DataView(bytes.buffer, bytes.byteOffset, headerBytes);
}

function expectHeader(file: string, what: string, actual: number, expected: number): void {
  if (actual !== expected) {
    throw new InvalidArgumentError(`${file}: ${what} is ${actual}, expected ${expected}`);
  }
}

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === "ENOENT";
}
