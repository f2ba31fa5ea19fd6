import type { Groth16Proof, Groth16VerificationKey } from "snarkjs";
import { FedproofError } from "../../common/errors.js";
import {
  batchVerifyGroth16,
  type Groth16Item,
} from "../../protocol/proofs/batch-verify-groth16.js";
import {
  type ContributionCheck,
  checkContributionSignals,
  type ExpectedContribution,
} from "../../protocol/proofs/check-contribution.js";
import {
  ChunkChainError,
  ClipBoundMismatchError,
  CommitmentMismatchError,
  ContextMismatchError,
  DatasetMismatchError,
  KzgMismatchError,
  NormBoundExceededError,
  ProofInvalidError,
  ProofMissingError,
  type ProofRejectedError,
  SchemaMismatchError,
  UnregisteredKeyError,
} from "../../protocol/proofs/errors.js";
import {
  type G1Hex,
  type KzgOpening,
  type KzgSrs,
  kzgCommit,
  kzgVerify,
  kzgVerifyBatch,
} from "../../protocol/proving/kzg.js";
import {
  type ChunkBlinding,
  chunkKzgCoefficients,
  chunkValues,
  computeUpdateCommitment,
} from "../../protocol/proving/update-commitment.js";
import type { UpdateNormParameters } from "../../protocol/proving/update-norm-parameters.js";
import { decodeUpdate } from "../../protocol/update/quantize.js";

export type {
  ExpectedContribution,
  ExpectedDataValidity,
} from "../../protocol/proofs/check-contribution.js";

/** A proof as it arrives in an upload header: which circuit, the snarkjs proof, its signals. */
export interface SubmittedProof {
  circuitId: string;
  proof: Groth16Proof;
  publicSignals: readonly string[];
}

export interface UpdateNormCircuitReference {
  id: string;
  verificationKey: Groth16VerificationKey;
  parameters: UpdateNormParameters;
  /** The job's KZG SRS (the first n + 2 powers of the ptau its key was set up with). */
  srs: KzgSrs;
}

/** What the upload carries per chunk next to its proof (proto `KzgChunk`). */
export interface SubmittedKzgChunk {
  /** C, "0x" + 128 hex. */
  commitment: G1Hex;
  /** π, the opening of C at the proof's kzgChallenge to its evaluation. */
  opening: G1Hex;
  /** ρ0, ρ1: the verifier recomputes C from the bytes with them. */
  blinding: ChunkBlinding;
}

export interface DataValidityCircuitReference {
  id: string;
  verificationKey: Groth16VerificationKey;
}

export interface VerifyContributionParameters {
  circuits: {
    updateNorm: UpdateNormCircuitReference;
    dataValidity?: DataValidityCircuitReference;
  };
  proofs: readonly SubmittedProof[];
  /**
   * What the signals must equal; the verify worker derives it with `contributionExpectations`
   * (protocol/proofs/check-contribution.ts), as `fedproof verify` does.
   */
  expected: ExpectedContribution;
  /** The update bytes exactly as received (`encodeUpdate` format). */
  uploadedBytes: Uint8Array;
  bits: number;
  paramCount: number;
  /** The commitment salt, sent by the device with the upload. */
  salt: bigint;
  /** One entry per chunk, in chunk order. */
  kzg: readonly SubmittedKzgChunk[];
}

export interface VerifyContributionReturnType {
  /** Poseidon sponge over the chunk commitments: what the round's Merkle tree anchors. */
  commitment: bigint;
  chunkCommitments: bigint[];
  /** The verified KZG commitments and openings, chunk order (what the bundle publishes). */
  kzgCommitments: G1Hex[];
  kzgOpenings: G1Hex[];
  squaredNorm: bigint;
  /** Proven sample count (when a data proof was required). */
  samples?: number;
  proofsChecked: number;
  /** "batch" when one multi-pairing covered every proof. */
  pairingChecks: "batch" | "batch+individual" | "individual";
}

/**
 * Checks a contribution's proofs against the round and against the bytes actually uploaded.
 * Cheap checks run first and fail with a precise reason; the pairing check runs last, batched
 * over every proof of the contribution. Throws a ProofRejectedError subclass on any failure
 * (see errors.ts); returns the verified commitment otherwise.
 */
export async function verifyContribution(
  parameters: VerifyContributionParameters,
): Promise<VerifyContributionReturnType> {
  const { circuits, proofs, expected, bits, paramCount } = parameters;
  const circuit = circuits.updateNorm.parameters;

  // 1. The public signals, exactly as `fedproof verify` checks them later (the KZG challenges
  // included: each must be the x its uploaded commitment gives).
  const signals = checkContributionSignals({
    circuits,
    proofs,
    expected,
    paramCount,
    bits,
    kzgCommitments: parameters.kzg.map((k) => k.commitment),
  });
  const [first] = signals.problems;
  if (first) {
    throw new REJECTIONS[first.check](first.message, {
      ...(first.check === "context"
        ? {
            details: `expected the context of job ${expected.jobId}, round ${expected.round}, device ${expected.deviceId} and the round's challenge seed ${expected.roundSeed}`,
          }
        : {}),
      ...(first.proof ? { proof: first.proof } : {}),
    });
  }
  const chunks = signals.chunks.length;
  const running = signals.squaredNorm;
  const chunkProofs = proofs.filter((p) => p.circuitId === circuits.updateNorm.id);

  // 2. The bytes: they must open exactly the commitments the proofs are about.
  let q: Int32Array;
  try {
    q = decodeUpdate(parameters.uploadedBytes, bits, paramCount);
  } catch (error) {
    throw new CommitmentMismatchError("the uploaded bytes are not a valid update for this job", {
      cause: error,
      details: error instanceof FedproofError ? error.shortMessage : String(error),
    });
  }
  const blindings = parameters.kzg.map((k) => k.blinding);
  const recomputed = computeUpdateCommitment({
    q,
    n: circuit.n,
    bits,
    salt: parameters.salt,
    blindings,
  });
  const valueRange = (j: number) =>
    `values ${j * circuit.n}..${Math.min(paramCount, (j + 1) * circuit.n) - 1}`;
  for (let j = 0; j < chunks; j++) {
    if (recomputed.chunkCommitments[j] !== signals.chunks[j]!.commitment) {
      throw new CommitmentMismatchError(
        `the uploaded bytes do not match the commitment of chunk ${j}`,
        { details: `${valueRange(j)} (or the chunk's blinding) differ from what was proven` },
      );
    }
  }

  // 3. The KZG commitments: each is the commitment of these bytes and this blinding (one MSM
  // per chunk), and opens at the proof's challenge to the proof's evaluation. The openings of
  // the contribution are checked with one multi-pairing.
  const openings: KzgOpening[] = [];
  for (let j = 0; j < chunks; j++) {
    const uploaded = parameters.kzg[j]!;
    const coefficients = chunkKzgCoefficients(chunkValues(q, circuit, j), bits, uploaded.blinding);
    const commitment = await kzgCommit(circuits.updateNorm.srs, coefficients);
    if (commitment.toLowerCase() !== uploaded.commitment.toLowerCase()) {
      throw new KzgMismatchError(
        `the uploaded bytes do not match the KZG commitment of chunk ${j}`,
        { details: `${valueRange(j)} and the chunk's blinding commit to ${commitment}` },
      );
    }
    const chunk = signals.chunks[j]!;
    openings.push({
      commitment: uploaded.commitment,
      x: chunk.kzgChallenge,
      value: chunk.evaluation,
      proof: uploaded.opening,
    });
  }
  if (!(await kzgVerifyBatch(circuits.updateNorm.srs, openings))) {
    let bad = 0;
    while (bad < openings.length && (await kzgVerify(circuits.updateNorm.srs, openings[bad]!)))
      bad++;
    throw new KzgMismatchError(
      `the KZG opening of chunk ${bad} does not show the proof's evaluation at its challenge`,
    );
  }

  // 4. The data proof: this dataset, this key, this schema, this round.
  const items: { circuit: "updateNorm" | "dataValidity"; item: Groth16Item; label: string }[] =
    chunkProofs.map((p, j) => ({
      circuit: "updateNorm",
      item: p,
      label: `UpdateNorm chunk ${j}`,
    }));
  let samples: number | undefined;
  if (expected.data && circuits.dataValidity) {
    const dataProof = proofs.find((p) => p.circuitId === circuits.dataValidity!.id)!;
    samples = expected.data.samples;
    items.push({ circuit: "dataValidity", item: dataProof, label: "data validity" });
  }

  // 5. The pairings, one batch per verification key.
  let pairingChecks: VerifyContributionReturnType["pairingChecks"] = "batch";
  for (const kind of ["updateNorm", "dataValidity"] as const) {
    const group = items.filter((i) => i.circuit === kind);
    if (group.length === 0) continue;
    const key =
      kind === "updateNorm"
        ? circuits.updateNorm.verificationKey
        : circuits.dataValidity!.verificationKey;
    const result = await batchVerifyGroth16(
      key,
      group.map((g) => g.item),
    );
    if (result.checks !== "batch") pairingChecks = result.checks;
    if (!result.valid) {
      throw new ProofInvalidError(`the ${group[result.invalid[0]].label} proof does not verify`, {
        details: `invalid: ${result.invalid.map((i) => group[i].label).join(", ")}`,
        ...(kind === "dataValidity" ? { proof: "data-validity" as const } : {}),
      });
    }
  }

  return {
    commitment: recomputed.commitment,
    chunkCommitments: recomputed.chunkCommitments,
    kzgCommitments: parameters.kzg.map((k) => k.commitment),
    kzgOpenings: parameters.kzg.map((k) => k.opening),
    squaredNorm: running,
    samples,
    proofsChecked: items.length,
    pairingChecks,
  };
}

/** The rejection each kind of signal problem is reported as. */
const REJECTIONS: Record<
  ContributionCheck,
  new (
    message: string,
    parameters?: { details?: string; proof?: "data-validity" },
  ) => ProofRejectedError
> = {
  "proof-missing": ProofMissingError,
  context: ContextMismatchError,
  "clip-bound": ClipBoundMismatchError,
  "chunk-chain": ChunkChainError,
  "norm-bound": NormBoundExceededError,
  commitment: CommitmentMismatchError,
  kzg: KzgMismatchError,
  dataset: DatasetMismatchError,
  schema: SchemaMismatchError,
  "unregistered-key": UnregisteredKeyError,
};
