import type { CircuitInput } from "snarkjs";
import { InvalidArgumentError } from "../../../common/errors.js";
import { poseidonSponge } from "../../../protocol/proving/poseidon.js";
import {
  contextValue,
  type ProofContextParameters,
} from "../../../protocol/proving/proof-context.js";
import {
  chunkCommitment,
  chunkSalt,
  chunkSquaredNorm,
  chunkValues,
} from "../../../protocol/proving/update-commitment.js";
import {
  checkUpdateNormParameters,
  chunkCount,
  type UpdateNormParameters,
} from "../../../protocol/proving/update-norm-parameters.js";
import type { ProofWithSignals, Prover } from "./prove-groth16.js";

export interface UpdateNormInputsParameters {
  /** The quantised update, |q_i| ≤ 2^(bits−1) − 1. */
  q: Int32Array;
  circuit: UpdateNormParameters;
  /** Secret random field element; the verifier receives it with the upload. */
  salt: bigint;
  context: ProofContextParameters;
  /** ⌊(C/scale)²⌋, the job's bound on Σ q². */
  c2: bigint;
}

export interface UpdateNormChunkInput {
  index: number;
  input: CircuitInput;
  /** What the proof's public signals must be: [commitment, partialSum, context, c2, sumBefore]. */
  publicSignals: string[];
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
 */
export function updateNormInputs(
  parameters: UpdateNormInputsParameters,
): UpdateNormInputsReturnType {
  const { q, circuit, salt, context, c2 } = parameters;
  checkUpdateNormParameters(circuit);
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
  for (let index = 0; index < count; index++) {
    const values = chunkValues(q, circuit, index);
    const saltOfChunk = chunkSalt(salt, index);
    const commitment = chunkCommitment(values, circuit.bits, saltOfChunk);
    const partialSum = chunkSquaredNorm(values, circuit.bits);
    const ctx = contextValue(context, index);
    commitments.push(commitment);
    chunks.push({
      index,
      input: {
        context: ctx.toString(),
        c2: c2.toString(),
        sumBefore: sumBefore.toString(),
        values: values.map(String),
        salt: saltOfChunk.toString(),
      },
      publicSignals: [commitment, partialSum, ctx, c2, sumBefore].map(String),
    });
    sumBefore += partialSum;
  }
  return { chunks, commitment: poseidonSponge(commitments), squaredNorm: sumBefore };
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

export interface ProveUpdateReturnType {
  proofs: ProofWithSignals[];
  commitment: bigint;
  squaredNorm: bigint;
  seconds: number;
}

/**
 * Proves every chunk of an update. Refuses early when Σ q² > c2: the circuit would reject
 * the witness anyway, after seconds of work and with a less helpful message.
 */
export async function proveUpdate(
  parameters: ProveUpdateParameters,
): Promise<ProveUpdateReturnType> {
  const started = performance.now();
  const { chunks, commitment, squaredNorm } = updateNormInputs(parameters);
  if (squaredNorm > parameters.c2) {
    throw new NormAboveBoundError(
      `update norm is above the clip bound: Σq² = ${squaredNorm} > ${parameters.c2}`,
    );
  }
  const proofs: ProofWithSignals[] = new Array(chunks.length);
  const concurrency = Math.max(1, parameters.concurrency ?? 1);
  let next = 0;
  const lanes = Array.from({ length: Math.min(concurrency, chunks.length) }, async () => {
    while (next < chunks.length) {
      const chunk = chunks[next++];
      proofs[chunk.index] = await parameters.prover(chunk.input);
    }
  });
  await Promise.all(lanes);
  return { proofs, commitment, squaredNorm, seconds: (performance.now() - started) / 1000 };
}
