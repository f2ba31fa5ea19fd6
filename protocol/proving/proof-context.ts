import { InvalidArgumentError } from "../../common/errors.js";
import { hashToFieldPair, idToField } from "./field.js";
import { poseidonHash } from "./poseidon.js";

/** What a proof is bound to: one device's contribution to one round of one job. */
export interface ProofContextParameters {
  jobId: string;
  round: number;
  /** SHA-256 hex of the global model the update was trained from. */
  globalModelHash: string;
  deviceId: string;
  /**
   * The round's challenge seed s_r (hex, 32 bytes; protocol/proving/challenge-seed.ts), which
   * the round's task reveals. Everything else in the context is known before the task arrives;
   * without the seed a device could compute its DataValidity challenge in advance and commit
   * to a dataset that is well formed only where it will be opened.
   */
  roundSeed: string;
}

/**
 * The index slot of the data-validity proof. Chunk indices are below 2^32, so the two
 * kinds of proof can never share a context value.
 */
export const DATA_VALIDITY_INDEX = 2n ** 32n;

/**
 * Poseidon(jobId, round, modelHashHigh, modelHashLow, deviceId, seedHigh, seedLow, index):
 * the public input that binds a proof to its job, round, model, device, round challenge seed
 * and position. The model hash and the seed are split into two 128-bit halves because a field
 * element holds only 253 bits.
 */
export function contextValue(parameters: ProofContextParameters, index: bigint | number): bigint {
  const { jobId, round, globalModelHash, deviceId, roundSeed } = parameters;
  if (!Number.isSafeInteger(round) || round < 0) {
    throw new InvalidArgumentError(`round must be a non-negative integer, got ${round}`);
  }
  const slot = BigInt(index);
  if (slot < 0n || slot > DATA_VALIDITY_INDEX) {
    throw new InvalidArgumentError(`proof index ${slot} is out of range`);
  }
  const [modelHigh, modelLow] = hashToFieldPair(globalModelHash);
  const [seedHigh, seedLow] = hashToFieldPair(roundSeed);
  return poseidonHash([
    idToField(jobId),
    BigInt(round),
    modelHigh,
    modelLow,
    idToField(deviceId),
    seedHigh,
    seedLow,
    slot,
  ]);
}
