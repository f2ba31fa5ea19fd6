/**
 * The coordinator's proof about its central-DP noise (circuits/README.md, "Proven DP noise"):
 * the noise vector N is committed chunk by chunk with KZG, exactly as a device commits its
 * update, and the job's noise chunk circuit proves every N_j in range and Σ N_j² ≤ c2, the bound
 * the spec fixes (protocol/aggregation/noise-bound.ts). With the chunks' blinding folded into
 * the round's aggregate blinding, a verifier checks Σᵢ wᵢ·Cᵢ + C_N = commitment of (S + N, R)
 * and learns that the published aggregate is the proven contributions' sum plus a vector of
 * norm at most √c2.
 */
import { readFile } from "node:fs/promises";
import { InvalidArgumentError } from "../../common/errors.js";
import { NOISE_PROOF_DEVICE_ID } from "../../protocol/aggregation/noise-bound.js";
import { uniformFieldElement } from "../../protocol/proving/field.js";
import type { G1Hex, KzgSrs } from "../../protocol/proving/kzg.js";
import type { ProofContextParameters } from "../../protocol/proving/proof-context.js";
import { inThreadProver, type ProofWithSignals } from "../../protocol/proving/prove-groth16.js";
import { proveUpdate } from "../../protocol/proving/prove-update-norm.js";
import type { UpdateNormParameters } from "../../protocol/proving/update-norm-parameters.js";

export interface ProveNoiseParameters {
  /** N, integers of magnitude ≤ 2^(bits−1) − 1 of the noise circuit. */
  noise: Float64Array;
  /** The job's noise chunk circuit (JobCircuits.noiseNorm). */
  circuit: { id: string; parameters: UpdateNormParameters; wasmPath: string; zkeyPath: string };
  srs: KzgSrs;
  /** The spec's bound on Σ N² (noiseProofParameters). */
  c2: bigint;
  /** The round's context; the device id is NOISE_PROOF_DEVICE_ID. */
  context: Omit<ProofContextParameters, "deviceId">;
}

/** What the round record, the bundle and the Provenance service carry about the noise. */
export interface NoiseProof {
  circuitId: string;
  /** One per chunk, in chunk order: [commitment, partialSum, evaluation, context, c2, sumBefore, x]. */
  proofs: ProofWithSignals[];
  /** C_N per chunk. */
  kzgCommitments: G1Hex[];
  /** The KZG opening of each C_N at its proof's challenge, to its evaluation. */
  kzgOpenings: G1Hex[];
}

export interface ProveNoiseReturnType {
  proof: NoiseProof;
  /**
   * Per chunk, the blinding [ρ0, ρ1] of C_N as 64 hex digits, the format of a contribution's
   * `kzgBlindings`: added into the round's aggregate blinding, never published alone.
   */
  blindings: [string, string][];
  seconds: number;
}

export async function proveNoise(parameters: ProveNoiseParameters): Promise<ProveNoiseReturnType> {
  const { noise, circuit } = parameters;
  const q = new Int32Array(noise.length);
  for (let j = 0; j < noise.length; j++) {
    const value = noise[j]!;
    if (!Number.isInteger(value) || Math.abs(value) > 2 ** 31 - 1) {
      throw new InvalidArgumentError(
        `noise value ${value} at coordinate ${j} is not a 32-bit integer`,
      );
    }
    q[j] = value;
  }
  const [wasm, zkey] = await Promise.all([readFile(circuit.wasmPath), readFile(circuit.zkeyPath)]);
  const proven = await proveUpdate({
    q,
    circuit: circuit.parameters,
    salt: uniformFieldElement(),
    context: { ...parameters.context, deviceId: NOISE_PROOF_DEVICE_ID },
    c2: parameters.c2,
    srs: parameters.srs,
    prover: inThreadProver({ wasm, zkey }),
  });
  return {
    proof: {
      circuitId: circuit.id,
      proofs: proven.proofs,
      kzgCommitments: proven.kzg.map((chunk) => chunk.commitment),
      kzgOpenings: proven.kzg.map((chunk) => chunk.opening),
    },
    blindings: proven.kzg.map(
      (chunk) =>
        chunk.blinding.map((value) => value.toString(16).padStart(64, "0")) as [string, string],
    ),
    seconds: proven.seconds,
  };
}
