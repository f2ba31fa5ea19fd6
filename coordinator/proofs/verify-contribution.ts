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
  NormBoundExceededError,
  ProofInvalidError,
  ProofMissingError,
  type ProofRejectedError,
  SchemaMismatchError,
  UnregisteredKeyError,
} from "../../protocol/proofs/errors.js";
import { computeUpdateCommitment } from "../../protocol/proving/update-commitment.js";
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
}

export interface VerifyContributionReturnType {
  /** Poseidon sponge over the chunk commitments: what the round's Merkle tree anchors. */
  commitment: bigint;
  chunkCommitments: bigint[];
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

  // 1. The public signals, exactly as `fedproof verify` checks them later.
  const signals = checkContributionSignals({
    circuits,
    proofs,
    expected,
    paramCount,
    bits,
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
  const recomputed = computeUpdateCommitment({ q, n: circuit.n, bits, salt: parameters.salt });
  for (let j = 0; j < chunks; j++) {
    if (recomputed.chunkCommitments[j] !== signals.chunks[j]!.commitment) {
      throw new CommitmentMismatchError(
        `the uploaded bytes do not match the commitment of chunk ${j}`,
        {
          details: `values ${j * circuit.n}..${Math.min(paramCount, (j + 1) * circuit.n) - 1} differ from what was proven`,
        },
      );
    }
  }

  // 3. The data proof: this dataset, this key, this schema, this round.
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

  // 4. The pairings, one batch per verification key.
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
  dataset: DatasetMismatchError,
  schema: SchemaMismatchError,
  "unregistered-key": UnregisteredKeyError,
};
