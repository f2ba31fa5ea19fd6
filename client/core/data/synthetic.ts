import { InvalidArgumentError } from "../../../common/errors.js";
import type { Dataset } from "../../../protocol/data/dataset.js";
import { createRng, deriveSeed } from "../../../protocol/random.js";

export interface SyntheticDatasetParameters {
  samples: number;
  /** Which records are drawn. */
  seed: number;
  /** Feature count; default 16. */
  features?: number;
  /** Class count; default 4. */
  classes?: number;
  /**
   * Which task the records come from (the class prototypes). Kept apart from `seed` so
   * that a test set drawn with another seed is a fair test of a model trained on this one.
   */
  taskSeed?: number;
  /** Spread of records around their class prototype; default 0.2. */
  noise?: number;
}

const DEFAULT_TASK_SEED = 0x5eed;

/**
 * A small classification task for fast tests: each class has a prototype in [0.2, 0.8]^F,
 * records are prototype + Gaussian noise, clipped to [0, 1]. Prototypes overlap enough that
 * an untrained model sits at chance and a trained linear model does well but not perfectly,
 * so accuracy visibly climbs over a few federated rounds. Labels are balanced.
 */
export function syntheticDataset(p: SyntheticDatasetParameters): Dataset {
  const features = p.features ?? 16;
  const classes = p.classes ?? 4;
  const noise = p.noise ?? 0.2;
  if (!Number.isInteger(p.samples) || p.samples < 0) {
    throw new InvalidArgumentError(`samples must be a non-negative integer, got ${p.samples}`);
  }
  if (!Number.isInteger(features) || features < 1) {
    throw new InvalidArgumentError(`features must be a positive integer, got ${features}`);
  }
  if (!Number.isInteger(classes) || classes < 2) {
    throw new InvalidArgumentError(`classes must be an integer ≥ 2, got ${classes}`);
  }
  if (!(noise >= 0) || !Number.isFinite(noise)) {
    throw new InvalidArgumentError(`noise must be a non-negative number, got ${noise}`);
  }

  const taskRng = createRng(deriveSeed(p.taskSeed ?? DEFAULT_TASK_SEED, features, classes));
  const prototypes = new Float64Array(classes * features);
  for (let i = 0; i < prototypes.length; i++) prototypes[i] = 0.2 + 0.6 * taskRng.next();

  const rng = createRng(p.seed);
  const labels = rng.shuffle(Array.from({ length: p.samples }, (_, i) => i % classes));
  const x = new Float32Array(p.samples * features);
  const y = Int32Array.from(labels);
  for (let record = 0; record < p.samples; record++) {
    const base = y[record] * features;
    for (let f = 0; f < features; f++) {
      const value = prototypes[base + f] + noise * rng.normal();
      x[record * features + f] = Math.min(1, Math.max(0, value));
    }
  }
  return { schema: { featureShape: [features], min: 0, max: 1, classes }, x, y, size: p.samples };
}
