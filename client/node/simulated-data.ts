import { InvalidArgumentError } from "../../common/errors.js";
import { type Dataset, subset } from "../../protocol/data/dataset.js";
import { parsePartition, partition } from "../core/data/partition.js";
import { syntheticDataset } from "../core/data/synthetic.js";
import { FASHION_MNIST_CLASSES, loadFashionMnist } from "./fashion-mnist.js";

export const DATASETS = ["synthetic", "fashion-mnist"] as const;
export type DatasetName = (typeof DATASETS)[number];

export function parseDatasetName(name: string): DatasetName {
  if (!(DATASETS as readonly string[]).includes(name)) {
    throw new InvalidArgumentError(
      `unknown dataset "${name}": expected one of ${DATASETS.join(", ")}`,
    );
  }
  return name as DatasetName;
}

/** Records in the synthetic training pool; each simulated device gets its partition of it. */
const SYNTHETIC_TRAIN = 4000;
const SYNTHETIC_TEST = 1000;

export async function loadTrainingPool(
  dataset: DatasetName,
  seed: number,
  limit?: number,
): Promise<Dataset> {
  if (dataset === "synthetic") return syntheticDataset({ samples: limit ?? SYNTHETIC_TRAIN, seed });
  return loadFashionMnist({ split: "train", limit });
}

/** The central test set the demo measures each round's global model on. */
export async function loadTestSet(
  dataset: DatasetName,
  seed: number,
  limit?: number,
): Promise<Dataset> {
  // A different record seed than the training pool, the same task: a fair test.
  if (dataset === "synthetic")
    return syntheticDataset({ samples: limit ?? SYNTHETIC_TEST, seed: seed + 1_000_003 });
  return loadFashionMnist({ split: "test", limit });
}

export interface SimulatedPartitionParameters {
  dataset: DatasetName;
  partition: string;
  clients: number;
  index: number;
  seed: number;
}

/**
 * The data of simulated device `index` of `clients`: every device computes the same
 * partition from the same seed and keeps only its own share, so no process needs the others'.
 */
export async function loadSimulatedPartition(
  parameters: SimulatedPartitionParameters,
): Promise<Dataset> {
  if (
    !Number.isInteger(parameters.index) ||
    parameters.index < 0 ||
    parameters.index >= parameters.clients
  ) {
    throw new InvalidArgumentError(
      `device index ${parameters.index} is outside 0..${parameters.clients - 1}`,
    );
  }
  const spec = parsePartition(parameters.partition);
  if (parameters.dataset === "fashion-mnist") {
    // The partition needs only the labels: decode the pixels of this device's records alone.
    return loadFashionMnist({
      split: "train",
      select: (labels) =>
        partition({
          spec,
          labels,
          classes: FASHION_MNIST_CLASSES.length,
          clients: parameters.clients,
          seed: parameters.seed,
        })[parameters.index]!,
    });
  }
  const pool = await loadTrainingPool(parameters.dataset, parameters.seed);
  const parts = partition({
    spec,
    labels: pool.y,
    classes: pool.schema.classes,
    clients: parameters.clients,
    seed: parameters.seed,
  });
  return subset(pool, parts[parameters.index]!);
}
