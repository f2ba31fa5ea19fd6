import { readFile } from "node:fs/promises";
import { InvalidArgumentError } from "../../common/errors.js";
import type { Dataset } from "../../protocol/data/dataset.js";

/**
 * A device's local records from a CSV file: one record per line, the label first, then the
 * features (the layout of the common MNIST-as-CSV files). A header line is skipped when its
 * first field is not a number. The schema is the job's; the device checks its records
 * against it after joining, so a bad record is named before any training starts.
 */
export async function loadCsvDataset(file: string): Promise<Dataset> {
  const text = await readFile(file, "utf8");
  const lines = text.split(/\r?\n/).filter((line) => line.trim().length > 0);
  if (lines.length > 0 && Number.isNaN(Number(lines[0]!.split(",")[0]))) lines.shift();
  if (lines.length === 0) throw new InvalidArgumentError(`${file} holds no records`);
  const width = lines[0]!.split(",").length - 1;
  if (width < 1)
    throw new InvalidArgumentError(`${file}: a record needs a label and at least one feature`);
  const x = new Float32Array(lines.length * width);
  const y = new Int32Array(lines.length);
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  let classes = 0;
  lines.forEach((line, record) => {
    const fields = line.split(",").map(Number);
    if (fields.length !== width + 1) {
      throw new InvalidArgumentError(
        `${file} line ${record + 1}: ${fields.length - 1} features, expected ${width}`,
      );
    }
    const label = fields[0]!;
    if (!Number.isInteger(label) || label < 0) {
      throw new InvalidArgumentError(
        `${file} line ${record + 1}: label ${label} is not a non-negative integer`,
      );
    }
    y[record] = label;
    classes = Math.max(classes, label + 1);
    for (let f = 0; f < width; f++) {
      const value = fields[f + 1]!;
      if (!Number.isFinite(value))
        throw new InvalidArgumentError(`${file} line ${record + 1}: feature ${f} is not a number`);
      x[record * width + f] = value;
      min = Math.min(min, value);
      max = Math.max(max, value);
    }
  });
  return {
    schema: {
      featureShape: [width],
      min,
      max: max > min ? max : min + 1,
      classes: Math.max(2, classes),
    },
    x,
    y,
    size: lines.length,
  };
}
