import { parseFieldElement } from "../proving/field.js";
import { ProofMissingError } from "./errors.js";

/**
 * Public signals of an UpdateNorm chunk proof, in snarkjs's order: the circuit's outputs,
 * then its public inputs as declared (`update-norm.circom`):
 * [commitment, partialSum, evaluation, context, c2, sumBefore, kzgChallenge].
 */
export interface UpdateNormSignals {
  commitment: bigint;
  partialSum: bigint;
  /** p(kzgChallenge) of the chunk's KZG polynomial; its KZG opening must show this value. */
  evaluation: bigint;
  context: bigint;
  c2: bigint;
  sumBefore: bigint;
  /** x = kzgChallenge(context, commitment, C) (protocol/proving/kzg-challenge.ts). */
  kzgChallenge: bigint;
}

export const UPDATE_NORM_SIGNAL_NAMES = [
  "commitment",
  "partialSum",
  "evaluation",
  "context",
  "c2",
  "sumBefore",
  "kzgChallenge",
] as const satisfies readonly (keyof UpdateNormSignals)[];

/** Position of each UpdateNorm signal, for readers that index the raw array. */
export const UPDATE_NORM_SIGNAL_INDEX = Object.fromEntries(
  UPDATE_NORM_SIGNAL_NAMES.map((name, i) => [name, i]),
) as Record<keyof UpdateNormSignals, number>;

export const UPDATE_NORM_SIGNAL_COUNT = UPDATE_NORM_SIGNAL_NAMES.length;

export function parseUpdateNormSignals(
  signals: readonly string[],
  index: number,
): UpdateNormSignals {
  if (signals.length !== UPDATE_NORM_SIGNAL_COUNT) {
    throw new ProofMissingError(
      `chunk proof ${index} has ${signals.length} public signals, an UpdateNorm proof has ${UPDATE_NORM_SIGNAL_COUNT}`,
    );
  }
  const out = {} as UpdateNormSignals;
  UPDATE_NORM_SIGNAL_NAMES.forEach((name, i) => {
    out[name] = parseFieldSignal(signals[i], `chunk ${index} ${name}`);
  });
  return out;
}

/**
 * Public signals of a DataValidity proof (all inputs; the circuit has no outputs), in circuit
 * order (`data-validity.circom`). Signals added later are appended, so indices 0..8 are stable.
 */
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
  /**
   * Root of the job's attester tree (protocol/proving/attester-set.ts), or 0 for a
   * self-attested proof. A verifier of a job with attesters must require its own root here:
   * 0 is how a proof says "no attester checked".
   */
  attesterRoot: bigint;
  /** The job id as a field element (`idToField(jobId)`); a verifier checks it is its job's. */
  jobScope: bigint;
  /**
   * Poseidon(jobScope, root, sampleCount): the same for every enrolment of one dataset in
   * one job, so a coordinator admits one device per (attested) dataset and job.
   */
  nullifier: bigint;
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
  "attesterRoot",
  "jobScope",
  "nullifier",
] as const satisfies readonly (keyof DataValiditySignals)[];

/** Position of each DataValidity signal, for readers that index the raw array. */
export const DATA_VALIDITY_SIGNAL_INDEX = Object.fromEntries(
  DATA_VALIDITY_SIGNAL_NAMES.map((name, i) => [name, i]),
) as Record<keyof DataValiditySignals, number>;

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

/** The inverse of parseDataValiditySignals: decimal strings in circuit order. */
export function encodeDataValiditySignals(signals: DataValiditySignals): string[] {
  return DATA_VALIDITY_SIGNAL_NAMES.map((name) => signals[name].toString());
}

function parseFieldSignal(text: string | undefined, what: string): bigint {
  try {
    return parseFieldElement(text ?? "", what);
  } catch (error) {
    throw new ProofMissingError(`${what} is not a field element`, { cause: error });
  }
}
