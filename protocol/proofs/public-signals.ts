import { parseFieldElement } from "../proving/field.js";
import { ProofMissingError } from "./errors.js";

/**
 * Public signals of an UpdateNorm chunk proof, in snarkjs's order: the circuit's outputs,
 * then its public inputs as declared (`update-norm.circom`).
 */
export interface UpdateNormSignals {
  commitment: bigint;
  partialSum: bigint;
  context: bigint;
  c2: bigint;
  sumBefore: bigint;
}

export const UPDATE_NORM_SIGNAL_COUNT = 5;

export function parseUpdateNormSignals(
  signals: readonly string[],
  index: number,
): UpdateNormSignals {
  if (signals.length !== UPDATE_NORM_SIGNAL_COUNT) {
    throw new ProofMissingError(
      `chunk proof ${index} has ${signals.length} public signals, an UpdateNorm proof has ${UPDATE_NORM_SIGNAL_COUNT}`,
    );
  }
  const at = (i: number, name: string) => parseFieldSignal(signals[i], `chunk ${index} ${name}`);
  return {
    commitment: at(0, "commitment"),
    partialSum: at(1, "partialSum"),
    context: at(2, "context"),
    c2: at(3, "c2"),
    sumBefore: at(4, "sumBefore"),
  };
}

/** Public signals of a DataValidity proof (all inputs; the circuit has no outputs). */
export interface DataValiditySignals {
  context: bigint;
  datasetCommitment: bigint;
  sampleCount: bigint;
  minSamples: bigint;
  featureMin: bigint;
  featureMax: bigint;
  classes: bigint;
  publicKeyX: bigint;
  publicKeyY: bigint;
}

export const DATA_VALIDITY_SIGNAL_NAMES = [
  "context",
  "datasetCommitment",
  "sampleCount",
  "minSamples",
  "featureMin",
  "featureMax",
  "classes",
  "publicKeyX",
  "publicKeyY",
] as const satisfies readonly (keyof DataValiditySignals)[];

export function parseDataValiditySignals(signals: readonly string[]): DataValiditySignals {
  if (signals.length !== DATA_VALIDITY_SIGNAL_NAMES.length) {
    throw new ProofMissingError(
      `the data-validity proof has ${signals.length} public signals, expected ${DATA_VALIDITY_SIGNAL_NAMES.length}`,
    );
  }
  const out = {} as DataValiditySignals;
  DATA_VALIDITY_SIGNAL_NAMES.forEach((name, i) => {
    out[name] = parseFieldSignal(signals[i], `data-validity ${name}`);
  });
  return out;
}

function parseFieldSignal(text: string | undefined, what: string): bigint {
  try {
    return parseFieldElement(text ?? "", what);
  } catch (error) {
    throw new ProofMissingError(`${what} is not a field element`, { cause: error });
  }
}
