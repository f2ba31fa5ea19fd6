import { InvalidArgumentError } from "../../common/errors.js";
import { createRng } from "../random.js";

/**
 * What every record of a job's data must look like. The coordinator publishes it in the
 * job spec, the device's proof shows that sampled records respect it, so the same numbers
 * drive validation here and range checks in the circuit.
 */
export interface DataSchema {
  /** Shape of one record's features, e.g. [28, 28, 1] for an image or [16] for a vector. */
  featureShape: number[];
  /** Inclusive lower bound of every feature value. */
  min: number;
  /** Inclusive upper bound of every feature value. */
  max: number;
  /** Number of classes; labels lie in [0, classes). */
  classes: number;
}

/** Records held as flat typed arrays so that no framework is needed to inspect or slice them. */
export interface Dataset {
  schema: DataSchema;
  /** size × prod(featureShape) values, record after record (row-major). */
  x: Float32Array;
  /** One label per record. */
  y: Int32Array;
  size: number;
}

/** Number of feature values in one record. */
export function featureSize(schema: DataSchema): number {
  return schema.featureShape.reduce((product, dimension) => product * dimension, 1);
}

/** Throws unless the schema itself is coherent (positive dimensions, min < max, ≥ 2 classes). */
export function validateSchema(schema: DataSchema): void {
  if (
    schema.featureShape.length === 0 ||
    !schema.featureShape.every((d) => Number.isInteger(d) && d > 0)
  ) {
    throw new InvalidArgumentError(
      `schema.featureShape must be a non-empty list of positive integers, got [${schema.featureShape.join(", ")}]`,
    );
  }
  if (!Number.isFinite(schema.min) || !Number.isFinite(schema.max) || !(schema.min < schema.max)) {
    throw new InvalidArgumentError(
      `schema needs finite min < max, got min=${schema.min} max=${schema.max}`,
    );
  }
  if (!Number.isInteger(schema.classes) || schema.classes < 2) {
    throw new InvalidArgumentError(`schema.classes must be an integer ≥ 2, got ${schema.classes}`);
  }
}

/**
 * Checks every record against the schema and throws an InvalidArgumentError naming the
 * first offending record (and feature). A device runs this before committing to its data:
 * a record that fails here would make the data-validity proof unsatisfiable later.
 */
export function validateDataset(ds: Dataset): void {
  validateSchema(ds.schema);
  const { min, max, classes } = ds.schema;
  const width = featureSize(ds.schema);
  if (!Number.isInteger(ds.size) || ds.size < 0) {
    throw new InvalidArgumentError(`dataset size must be a non-negative integer, got ${ds.size}`);
  }
  if (ds.x.length !== ds.size * width) {
    throw new InvalidArgumentError(
      `dataset features have the wrong length: expected ${ds.size} records × ${width} = ${ds.size * width} values, got ${ds.x.length}`,
    );
  }
  if (ds.y.length !== ds.size) {
    throw new InvalidArgumentError(
      `dataset labels have the wrong length: expected ${ds.size}, got ${ds.y.length}`,
    );
  }
  for (let record = 0; record < ds.size; record++) {
    const label = ds.y[record];
    if (label < 0 || label >= classes) {
      throw new InvalidArgumentError(
        `record ${record}: label ${label} is outside [0, ${classes - 1}]`,
      );
    }
    const offset = record * width;
    for (let feature = 0; feature < width; feature++) {
      const value = ds.x[offset + feature];
      // Written so that NaN fails too.
      if (!(value >= min && value <= max)) {
        throw new InvalidArgumentError(
          `record ${record}, feature ${feature}: value ${value} is outside [${min}, ${max}]`,
        );
      }
    }
  }
}

/** The records at `indices`, in that order, copied into a new dataset. */
export function subset(ds: Dataset, indices: ArrayLike<number>): Dataset {
  const width = featureSize(ds.schema);
  const x = new Float32Array(indices.length * width);
  const y = new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const source = indices[i];
    if (!Number.isInteger(source) || source < 0 || source >= ds.size) {
      throw new InvalidArgumentError(
        `subset index ${source} (position ${i}) is outside [0, ${ds.size - 1}]`,
      );
    }
    x.set(ds.x.subarray(source * width, (source + 1) * width), i * width);
    y[i] = ds.y[source];
  }
  return { schema: ds.schema, x, y, size: indices.length };
}

export interface SplitHoldoutReturnType {
  train: Dataset;
  holdout: Dataset;
}

/**
 * Splits off round(size × fraction) records, chosen by a seeded shuffle, e.g. as a device's
 * local validation set. Both parts keep the original record order.
 */
export function splitHoldout(ds: Dataset, fraction: number, seed: number): SplitHoldoutReturnType {
  if (!(fraction >= 0 && fraction < 1)) {
    throw new InvalidArgumentError(`holdout fraction must lie in [0, 1), got ${fraction}`);
  }
  const order = createRng(seed).shuffle(Array.from({ length: ds.size }, (_, i) => i));
  const holdoutSize = Math.round(ds.size * fraction);
  const holdout = order.slice(0, holdoutSize).sort((a, b) => a - b);
  const train = order.slice(holdoutSize).sort((a, b) => a - b);
  return { train: subset(ds, train), holdout: subset(ds, holdout) };
}
