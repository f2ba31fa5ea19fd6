import { FedproofError, type FedproofErrorParameters } from "../../common/errors.js";

type Parameters = Omit<FedproofErrorParameters, "code">;

/**
 * A contribution whose proofs do not check out. Every subclass is final: the same bytes and
 * proofs fail the same way on retry, so the verify worker throws BullMQ's
 * UnrecoverableError and the device is told the `shortMessage`.
 */
export class ProofRejectedError extends FedproofError {
  override name = "ProofRejectedError";
  /**
   * "data-validity" when the proof at fault is the contribution's data-validity proof: it was
   * sent and does not hold, which gets the device excluded from the job (a missing proof only
   * loses the round, like silence would).
   */
  readonly proof?: "data-validity";
  constructor(shortMessage: string, parameters: Parameters & { proof?: "data-validity" } = {}) {
    const { proof, ...rest } = parameters;
    super(shortMessage, { ...rest, code: "INVALID_ARGUMENT" });
    if (proof) this.proof = proof;
  }
}

/** A proof, or the proof set, is missing, has the wrong shape, or names an unknown circuit. */
export class ProofMissingError extends ProofRejectedError {
  override name = "ProofMissingError";
}

/** A proof's context is not this job, round, model, device and position: a replay. */
export class ContextMismatchError extends ProofRejectedError {
  override name = "ContextMismatchError";
}

/** A chunk proof was made against another clip bound than the job's C2 = ⌊(C/scale)²⌋. */
export class ClipBoundMismatchError extends ProofRejectedError {
  override name = "ClipBoundMismatchError";
}

/** The chunk proofs' running sums do not chain (a chunk dropped, reordered or from elsewhere). */
export class ChunkChainError extends ProofRejectedError {
  override name = "ChunkChainError";
}

/** The proven Σ q² exceeds C2. */
export class NormBoundExceededError extends ProofRejectedError {
  override name = "NormBoundExceededError";
}

/** The uploaded bytes do not open the commitment the proofs are about. */
export class CommitmentMismatchError extends ProofRejectedError {
  override name = "CommitmentMismatchError";
}

/** The data-validity proof is about another dataset commitment or sample count than registered. */
export class DatasetMismatchError extends ProofRejectedError {
  override name = "DatasetMismatchError";
}

/** The data-validity proof checked another schema (bounds, classes, minimum samples) than the job's. */
export class SchemaMismatchError extends ProofRejectedError {
  override name = "SchemaMismatchError";
}

/** The dataset was signed by a key that is not the one the device registered. */
export class UnregisteredKeyError extends ProofRejectedError {
  override name = "UnregisteredKeyError";
}

/** The Groth16 pairing check failed: the proof is not a proof of these public signals. */
export class ProofInvalidError extends ProofRejectedError {
  override name = "ProofInvalidError";
}

/**
 * A chunk's KZG commitment, challenge or opening does not hold: the commitment is not of the
 * uploaded values and blinding, the proof was made for another challenge than the one its
 * commitment and context give, or the opening does not show the proof's evaluation.
 */
export class KzgMismatchError extends ProofRejectedError {
  override name = "KzgMismatchError";
}
