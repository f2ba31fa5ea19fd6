import type { CircuitInput } from "snarkjs";
import { hexToBytes } from "viem";
import { InvalidArgumentError } from "../../common/errors.js";
import { UPDATE_NORM_SIGNAL_INDEX } from "../proofs/public-signals.js";
import { uniformFieldElement } from "./field.js";
import { evaluatePolynomial, type G1Hex, type KzgSrs, kzgCommit, kzgOpen } from "./kzg.js";
import { kzgChallenge } from "./kzg-challenge.js";
import { poseidonSponge } from "./poseidon.js";
import { encodeFieldElement } from "./proof-codec.js";
import { contextValue, type ProofContextParameters } from "./proof-context.js";
import type { ProofWithSignals, Prover } from "./prove-groth16.js";
import {
  type ChunkBlinding,
  chunkCommitment,
  chunkKzgCoefficients,
  chunkSalt,
  chunkSquaredNorm,
  chunkValues,
} from "./update-commitment.js";
import {
  checkUpdateNormParameters,
  chunkCount,
  type UpdateNormParameters,
} from "./update-norm-parameters.js";

export interface UpdateNormInputsParameters {
  /** The quantised update, |q_i| ≤ 2^(bits−1) − 1. */
  q: Int32Array;
  circuit: UpdateNormParameters;
  /** Secret random field element; the verifier receives it with the upload. */
  salt: bigint;
  context: ProofContextParameters;
  /** ⌊(C/scale)²⌋, the job's bound on Σ q². */
  c2: bigint;
  /** The job's KZG structured reference string (at least n + 2 powers), shipped with its circuits. */
  srs: KzgSrs;
  /**
   * Per chunk, the KZG blinding ρ0, ρ1. Absent (what devices do): drawn uniformly from the
   * field with crypto.getRandomValues, fresh for every chunk of every update. Tests pin them
   * to compare runs.
   */
  blindings?: readonly ChunkBlinding[];
}

/** A chunk's KZG commitment and what it was made from. */
export interface ChunkKzgInput {
  /** C = kzgCommit(srs, [q_0..q_{n−1}, ρ0, ρ1]). */
  commitment: G1Hex;
  blinding: ChunkBlinding;
  /** x, the proof's `kzgChallenge` (protocol/proving/kzg-challenge.ts). */
  challenge: bigint;
  /** p(x), the proof's `evaluation`. */
  evaluation: bigint;
  coefficients: bigint[];
}

export interface UpdateNormChunkInput {
  index: number;
  input: CircuitInput;
  /**
   * What the proof's public signals must be:
   * [commitment, partialSum, evaluation, context, c2, sumBefore, kzgChallenge].
   */
  publicSignals: string[];
  kzg: ChunkKzgInput;
}

export interface UpdateNormInputsReturnType {
  chunks: UpdateNormChunkInput[];
  /** Poseidon sponge over the chunk commitments. */
  commitment: bigint;
  squaredNorm: bigint;
}

/**
 * Witness inputs for every chunk of an update, and the public signals each proof will
 * carry. Chunks are independent given the running sums, so they can be proven in parallel.
 * Per chunk, in this order (the challenge must come after everything it binds): the blinding,
 * the Poseidon commitment (which absorbs it), the KZG commitment C, then x from both.
 */
export async function updateNormInputs(
  parameters: UpdateNormInputsParameters,
): Promise<UpdateNormInputsReturnType> {
  const { q, circuit, salt, context, c2, srs } = parameters;
  checkUpdateNormParameters(circuit);
  if (srs.size < circuit.n + 2) {
    throw new InvalidArgumentError(
      `the KZG SRS has ${srs.size} powers, a chunk of ${circuit.n} values needs ${circuit.n + 2}`,
    );
  }
  const max = 2 ** (circuit.bits - 1) - 1;
  for (let i = 0; i < q.length; i++) {
    if (q[i] > max || q[i] < -max) {
      throw new InvalidArgumentError(`quantised value ${q[i]} at index ${i} is outside ±${max}`);
    }
  }
  const chunks: UpdateNormChunkInput[] = [];
  const commitments: bigint[] = [];
  let sumBefore = 0n;
  const count = chunkCount(q.length, circuit);
  if (parameters.blindings && parameters.blindings.length !== count) {
    throw new InvalidArgumentError(
      `the update has ${count} chunks, ${parameters.blindings.length} KZG blindings were given`,
    );
  }
  for (let index = 0; index < count; index++) {
    const values = chunkValues(q, circuit, index);
    const saltOfChunk = chunkSalt(salt, index);
    const blinding: ChunkBlinding = parameters.blindings?.[index] ?? [
      uniformFieldElement(),
      uniformFieldElement(),
    ];
    const commitment = chunkCommitment(values, circuit.bits, saltOfChunk, blinding);
    const partialSum = chunkSquaredNorm(values, circuit.bits);
    const ctx = contextValue(context, index);
    const coefficients = chunkKzgCoefficients(values, circuit.bits, blinding);
    const kzgCommitment = await kzgCommit(srs, coefficients);
    const challenge = kzgChallenge({ context: ctx, commitment, kzgCommitment });
    const evaluation = evaluatePolynomial(coefficients, challenge);
    commitments.push(commitment);
    chunks.push({
      index,
      input: {
        context: ctx.toString(),
        c2: c2.toString(),
        sumBefore: sumBefore.toString(),
        kzgChallenge: challenge.toString(),
        values: values.map(String),
        salt: saltOfChunk.toString(),
        blinding: blinding.map(String),
      },
      publicSignals: [commitment, partialSum, evaluation, ctx, c2, sumBefore, challenge].map(
        String,
      ),
      kzg: { commitment: kzgCommitment, blinding, challenge, evaluation, coefficients },
    });
    sumBefore += partialSum;
  }
  return { chunks, commitment: poseidonSponge(commitments), squaredNorm: sumBefore };
}

/**
 * A chunk's KZG fields as the upload carries them (proto `KzgChunk`): C and π as 64 bytes
 * (x ‖ y), ρ0 and ρ1 as 32-byte big-endian field elements. Plain Uint8Arrays: browsers too.
 */
export function encodeKzgChunk(chunk: ChunkKzgUpload): {
  commitment: Uint8Array;
  opening: Uint8Array;
  blinding0: Uint8Array;
  blinding1: Uint8Array;
} {
  return {
    commitment: hexToBytes(chunk.commitment),
    opening: hexToBytes(chunk.opening),
    blinding0: encodeFieldElement(chunk.blinding[0]),
    blinding1: encodeFieldElement(chunk.blinding[1]),
  };
}

/** The update's norm is above the clip bound: no proof can exist, so none is attempted. */
export class NormAboveBoundError extends InvalidArgumentError {
  override name = "NormAboveBoundError";
}

export interface ProveUpdateParameters extends UpdateNormInputsParameters {
  prover: Prover;
  /**
   * Chunks handed to the prover at once (default 1). Give a prover pool's size: its workers
   * then prove that many chunks in parallel. The proofs come back in chunk order either way.
   */
  concurrency?: number;
}

/** What the upload carries per chunk next to the proof (proto `KzgChunk`). */
export interface ChunkKzgUpload {
  commitment: G1Hex;
  /** The KZG opening proof π of p at the proof's kzgChallenge, to its evaluation. */
  opening: G1Hex;
  blinding: ChunkBlinding;
}

export interface ProveUpdateReturnType {
  proofs: ProofWithSignals[];
  /** One per chunk, in chunk order. */
  kzg: ChunkKzgUpload[];
  commitment: bigint;
  squaredNorm: bigint;
  seconds: number;
}

/**
 * Proves every chunk of an update and opens each chunk's KZG commitment at its challenge.
 * Refuses early when Σ q² > c2: the circuit would reject the witness anyway, after seconds of
 * work and with a less helpful message.
 */
export async function proveUpdate(
  parameters: ProveUpdateParameters,
): Promise<ProveUpdateReturnType> {
  const started = performance.now();
  const { chunks, commitment, squaredNorm } = await updateNormInputs(parameters);
  if (squaredNorm > parameters.c2) {
    throw new NormAboveBoundError(
      `update norm is above the clip bound: Σq² = ${squaredNorm} > ${parameters.c2}`,
    );
  }
  const proofs: ProofWithSignals[] = new Array(chunks.length);
  const kzg: ChunkKzgUpload[] = new Array(chunks.length);
  const concurrency = Math.max(1, parameters.concurrency ?? 1);
  let next = 0;
  const lanes = Array.from({ length: Math.min(concurrency, chunks.length) }, async () => {
    while (next < chunks.length) {
      const chunk = chunks[next++]!;
      proofs[chunk.index] = await parameters.prover(chunk.input);
      const opened = await kzgOpen(parameters.srs, chunk.kzg.coefficients, chunk.kzg.challenge);
      // The verifier checks the opening against the proof's `evaluation` signal; a mismatch
      // here is a bug in this device's code, not something to upload.
      if (
        opened.value !== chunk.kzg.evaluation ||
        proofs[chunk.index]!.publicSignals[UPDATE_NORM_SIGNAL_INDEX.evaluation] !==
          chunk.kzg.evaluation.toString()
      ) {
        throw new InvalidArgumentError(
          `chunk ${chunk.index}: the KZG opening's value differs from the proof's evaluation signal`,
        );
      }
      kzg[chunk.index] = {
        commitment: chunk.kzg.commitment,
        opening: opened.proof,
        blinding: chunk.kzg.blinding,
      };
    }
  });
  await Promise.all(lanes);
  return { proofs, kzg, commitment, squaredNorm, seconds: (performance.now() - started) / 1000 };
}
