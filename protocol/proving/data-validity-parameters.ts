import { InvalidArgumentError } from "../../common/errors.js";

/**
 * Shape of a DataValidity circuit. The schema's numbers (min, max, classes, minimum sample
 * count) are public inputs, so one circuit serves every job with the same record shape.
 */
export interface DataValidityParameters {
  /** Merkle tree depth: a device holds at most 2^depth records. */
  depth: number;
  /** Features per record. */
  features: number;
  /** Records opened per proof (k). */
  samples: number;
  /** Bits of one stored feature value (value − schema minimum, in the job's feature units). */
  featureBits: number;
  /** Bits of a label (classes ≤ 2^labelBits). */
  labelBits: number;
  /**
   * Depth of the job's attester tree: up to 2^attesterDepth attester keys (sensors, data
   * providers) whose signature over the dataset commitment the proof checks when the job's
   * attesterRoot is non-zero. 0 compiles no attester check: the circuit then proves only
   * self-attested data (attesterRoot = 0) and is ~4,400 + 243·depth constraints smaller.
   */
  attesterDepth: number;
}

/** Attester tree depth for jobs that name attesters: up to 1,024 keys, 2,430 constraints of path. */
export const DEFAULT_ATTESTER_DEPTH = 10;

export function checkDataValidityParameters(parameters: DataValidityParameters): void {
  const { depth, features, samples, featureBits, labelBits, attesterDepth } = parameters;
  const check = (name: string, value: number, min: number, max: number) => {
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new InvalidArgumentError(
        `DataValidity ${name} must be an integer in [${min}, ${max}], got ${value}`,
      );
    }
  };
  check("depth", depth, 1, 32);
  check("features", features, 1, 1 << 20);
  check("samples", samples, 1, 256);
  check("featureBits", featureBits, 1, 64);
  check("labelBits", labelBits, 1, 32);
  check("attesterDepth", attesterDepth, 0, 32);
}
