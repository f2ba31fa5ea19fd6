import * as tf from "@tensorflow/tfjs";
import { InvalidArgumentError } from "../../common/errors.js";

/**
 * A model's weights travel, get hashed, clipped and proved as ONE flat vector in
 * `model.getWeights()` order; the layout tells how to cut it back into tensors.
 */
export interface WeightLayout {
  shapes: number[][];
  /** Total number of values. */
  size: number;
}

export function weightLayout(model: tf.LayersModel): WeightLayout {
  const shapes = model.weights.map((weight) => weight.shape.map((d) => d ?? 0));
  const size = shapes.reduce((sum, shape) => sum + shape.reduce((p, d) => p * d, 1), 0);
  return { shapes, size };
}

/** Copies every weight (trainable or not) into one new Float32Array. */
export function getFlatWeights(model: tf.LayersModel): Float32Array {
  // getWeights() hands out the model's own variables, which must not be disposed here.
  const tensors = model.getWeights();
  const size = tensors.reduce((sum, t) => sum + t.size, 0);
  const flat = new Float32Array(size);
  let offset = 0;
  for (const tensor of tensors) {
    flat.set(tensor.dataSync() as Float32Array, offset);
    offset += tensor.size;
  }
  return flat;
}

/** Overwrites the model's weights with `flat` (copied, so `flat` may be reused). */
export function setFlatWeights(model: tf.LayersModel, flat: Float32Array): void {
  const layout = weightLayout(model);
  if (flat.length !== layout.size) {
    throw new InvalidArgumentError(
      `flat weights have ${flat.length} values, the model has ${layout.size}`,
    );
  }
  let offset = 0;
  const tensors = layout.shapes.map((shape) => {
    const count = shape.reduce((p, d) => p * d, 1);
    const tensor = tf.tensor(flat.subarray(offset, offset + count), shape, "float32");
    offset += count;
    return tensor;
  });
  try {
    model.setWeights(tensors);
  } finally {
    tf.dispose(tensors);
  }
}

const LITTLE_ENDIAN_PLATFORM = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** model.bin format: the flat weights as little-endian float32 bytes, nothing else. */
export function encodeModel(flat: Float32Array): Uint8Array {
  if (LITTLE_ENDIAN_PLATFORM) {
    return new Uint8Array(flat.buffer.slice(flat.byteOffset, flat.byteOffset + flat.byteLength));
  }
  const bytes = new Uint8Array(flat.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < flat.length; i++) view.setFloat32(i * 4, flat[i], true);
  return bytes;
}

/** Inverse of encodeModel; checks the byte count against `expectedSize` values when given. */
export function decodeModel(bytes: Uint8Array, expectedSize?: number): Float32Array {
  if (bytes.byteLength % 4 !== 0) {
    throw new InvalidArgumentError(
      `model bytes must be a multiple of 4 (float32), got ${bytes.byteLength}`,
    );
  }
  const size = bytes.byteLength / 4;
  if (expectedSize !== undefined && size !== expectedSize) {
    throw new InvalidArgumentError(
      `model has ${size} values (${bytes.byteLength} bytes), expected ${expectedSize} (${expectedSize * 4} bytes)`,
    );
  }
  if (LITTLE_ENDIAN_PLATFORM) {
    // Copy: the input may sit at an unaligned offset of a larger (network) buffer.
    return new Float32Array(
      bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const flat = new Float32Array(size);
  for (let i = 0; i < size; i++) flat[i] = view.getFloat32(i * 4, true);
  return flat;
}
