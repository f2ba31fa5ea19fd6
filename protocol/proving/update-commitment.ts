import { InvalidArgumentError } from "../../common/errors.js";
import { toField } from "./field.js";
import { poseidonHash, poseidonSponge } from "./poseidon.js";
import {
  checkUpdateNormParameters,
  chunkCount,
  type UpdateNormParameters,
  valuesPerElement,
} from "./update-norm-parameters.js";

/**
 * The offset-encoded values of chunk `index`: q + 2^(bits−1), zero updates (q = 0) padding
 * the last chunk. Offset encoding makes the circuit's range check a bit decomposition of a
 * non-negative number.
 */
export function chunkValues(
  q: Int32Array,
  parameters: UpdateNormParameters,
  index: number,
): bigint[] {
  const { n, bits } = parameters;
  const offset = 1n << BigInt(bits - 1);
  const values: bigint[] = new Array(n);
  const start = index * n;
  for (let i = 0; i < n; i++) {
    const position = start + i;
    values[i] = (position < q.length ? BigInt(q[position]) : 0n) + offset;
  }
  return values;
}

/** ⌊253/bits⌋ offset values per field element, the first value in the lowest bits. */
export function packValues(values: readonly bigint[], bits: number): bigint[] {
  const per = valuesPerElement(bits);
  const width = BigInt(bits);
  const packed: bigint[] = [];
  for (let start = 0; start < values.length; start += per) {
    let element = 0n;
    const end = Math.min(start + per, values.length);
    for (let i = end - 1; i >= start; i--) element = (element << width) | values[i];
    packed.push(element);
  }
  return packed;
}

/**
 * Each chunk gets its own salt, Poseidon(salt, index), so equal chunks (all-zero tails, say)
 * do not show up as equal commitments, while the device still sends a single salt.
 */
export function chunkSalt(salt: bigint, index: number): bigint {
  return poseidonHash([toField(salt), BigInt(index)]);
}

/** A chunk's KZG blinding ρ0, ρ1: the coefficients of X^n and X^(n+1) (field elements). */
export type ChunkBlinding = readonly [bigint, bigint];

/**
 * The commitment the chunk circuit outputs: the sponge over
 * [chunk salt, ρ0, ρ1, packed values...]. The blinding is absorbed so that the KZG challenge,
 * which hashes this commitment, comes after every coefficient of the KZG polynomial is fixed.
 */
export function chunkCommitment(
  values: readonly bigint[],
  bits: number,
  saltOfChunk: bigint,
  blinding: ChunkBlinding,
): bigint {
  return poseidonSponge([
    saltOfChunk,
    toField(blinding[0]),
    toField(blinding[1]),
    ...packValues(values, bits),
  ]);
}

/**
 * The KZG polynomial's coefficients for a chunk: the signed values q_j (field elements, a
 * negative q as r + q) then ρ0, ρ1, so p(X) = Σ q_j·X^j + ρ0·X^n + ρ1·X^(n+1).
 */
export function chunkKzgCoefficients(
  values: readonly bigint[],
  bits: number,
  blinding: ChunkBlinding,
): bigint[] {
  const offset = 1n << BigInt(bits - 1);
  return [...values.map((v) => toField(v - offset)), toField(blinding[0]), toField(blinding[1])];
}

/** Σ q² of one chunk's offset values, as the circuit's `partialSum` output. */
export function chunkSquaredNorm(values: readonly bigint[], bits: number): bigint {
  const offset = 1n << BigInt(bits - 1);
  let total = 0n;
  for (const value of values) {
    const q = value - offset;
    total += q * q;
  }
  return total;
}

export interface UpdateCommitmentParameters extends UpdateNormParameters {
  q: Int32Array;
  salt: bigint;
  /** Per chunk, the KZG blinding the device chose (and uploaded); one entry per chunk. */
  blindings: readonly ChunkBlinding[];
}

export interface UpdateCommitmentReturnType {
  /** Poseidon sponge over the chunk commitments: the one value anchored on chain. */
  commitment: bigint;
  chunkCommitments: bigint[];
  /** Σ q² per chunk, in chunk order. */
  partialSums: bigint[];
}

/**
 * The commitment to a whole update, computed the same way by the device (before proving)
 * and by the verifier (over the bytes it actually received).
 */
export function computeUpdateCommitment(
  parameters: UpdateCommitmentParameters,
): UpdateCommitmentReturnType {
  checkUpdateNormParameters(parameters);
  const { q, bits, salt } = parameters;
  const max = 2 ** (bits - 1) - 1;
  for (let i = 0; i < q.length; i++) {
    if (q[i] > max || q[i] < -max) {
      throw new InvalidArgumentError(`quantised value ${q[i]} at index ${i} is outside ±${max}`);
    }
  }
  const chunks = chunkCount(q.length, parameters);
  if (parameters.blindings.length !== chunks) {
    throw new InvalidArgumentError(
      `an update of ${q.length} values in chunks of ${parameters.n} has ${chunks} chunk${chunks === 1 ? "" : "s"}, got KZG blinding for ${parameters.blindings.length}`,
    );
  }
  const chunkCommitments: bigint[] = [];
  const partialSums: bigint[] = [];
  for (let index = 0; index < chunks; index++) {
    const values = chunkValues(q, parameters, index);
    chunkCommitments.push(
      chunkCommitment(values, bits, chunkSalt(salt, index), parameters.blindings[index]!),
    );
    partialSums.push(chunkSquaredNorm(values, bits));
  }
  return { commitment: poseidonSponge(chunkCommitments), chunkCommitments, partialSums };
}
