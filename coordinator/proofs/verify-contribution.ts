import type { Groth16Proof, Groth16VerificationKey } from "snarkjs";
import { FedproofError } from "../../common/errors.js";
import {
  batchVerifyGroth16,
  type Groth16Item,
} from "../../protocol/proofs/batch-verify-groth16.js";
import {
  ChunkChainError,
  ClipBoundMismatchError,
  CommitmentMismatchError,
  ContextMismatchError,
  DatasetMismatchError,
  NormBoundExceededError,
  ProofInvalidError,
  ProofMissingError,
  SchemaMismatchError,
  UnregisteredKeyError,
} from "../../protocol/proofs/errors.js";
import {
  parseDataValiditySignals,
  parseUpdateNormSignals,
  type UpdateNormSignals,
} from "../../protocol/proofs/public-signals.js";
import { toField } from "../../protocol/proving/field.js";
import {
  contextValue,
  DATA_VALIDITY_INDEX,
  type ProofContextParameters,
} from "../../protocol/proving/proof-context.js";
import { computeUpdateCommitment } from "../../protocol/proving/update-commitment.js";
import {
  chunkCount,
  type UpdateNormParameters,
} from "../../protocol/proving/update-norm-parameters.js";
import { decodeUpdate } from "../../protocol/update/quantize.js";

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

/** What the job and the device's enrolment say the data proof must show. */
export interface ExpectedDataValidity {
  /** The dataset commitment the device registered at Join. */
  datasetCommitment: bigint;
  /** The Baby Jubjub public key the device registered at Join. */
  publicKey: readonly [bigint, bigint];
  /** Sample count claimed in the upload header (the aggregation weight). */
  samples: number;
  minSamples: number;
  /** Schema bounds in integer feature units (see client/core/proving/dataset-commitment.ts). */
  featureMin: bigint;
  featureMax: bigint;
  classes: number;
}

export interface ExpectedContribution extends ProofContextParameters {
  /** ⌊(C/scale)²⌋ for this round. */
  c2: bigint;
  /** Present when the job requires a data-validity proof. */
  data?: ExpectedDataValidity;
}

export interface VerifyContributionParameters {
  circuits: {
    updateNorm: UpdateNormCircuitReference;
    dataValidity?: DataValidityCircuitReference;
  };
  proofs: readonly SubmittedProof[];
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
  if (circuit.bits !== bits) {
    throw new ProofMissingError(
      `the job quantises to ${bits} bits, circuit ${circuits.updateNorm.id} proves ${circuit.bits}-bit values`,
    );
  }
  const known = new Set([circuits.updateNorm.id, circuits.dataValidity?.id]);
  const stranger = proofs.find((p) => !known.has(p.circuitId));
  if (stranger) throw new ProofMissingError(`proof for unknown circuit ${stranger.circuitId}`);

  // 1. The chunk proofs: one per chunk, in chunk order, about this round and this bound.
  const chunkProofs = proofs.filter((p) => p.circuitId === circuits.updateNorm.id);
  const chunks = chunkCount(paramCount, circuit);
  if (chunkProofs.length !== chunks) {
    throw new ProofMissingError(
      `expected ${chunks} UpdateNorm proofs for ${paramCount} parameters (chunks of ${circuit.n}), got ${chunkProofs.length}`,
    );
  }
  const signals: UpdateNormSignals[] = chunkProofs.map((p, j) =>
    parseUpdateNormSignals(p.publicSignals, j),
  );
  let running = 0n;
  for (let j = 0; j < chunks; j++) {
    const s = signals[j];
    if (s.context !== contextValue(expected, j)) {
      throw new ContextMismatchError(
        `chunk proof ${j} is bound to another job, round, model, device or chunk position`,
        {
          details: `expected the context of job ${expected.jobId}, round ${expected.round}, device ${expected.deviceId}, chunk ${j}`,
        },
      );
    }
    if (s.c2 !== expected.c2) {
      throw new ClipBoundMismatchError(
        `chunk proof ${j} proves Σq² against C2 = ${s.c2}, the round's bound is ${expected.c2}`,
      );
    }
    if (s.sumBefore !== running) {
      throw new ChunkChainError(
        `chunk proof ${j} starts from Σq² = ${s.sumBefore}, the chunks before it sum to ${running}`,
      );
    }
    running += s.partialSum;
  }
  if (running > expected.c2) {
    throw new NormBoundExceededError(
      `proven Σq² = ${running} exceeds the clip bound C2 = ${expected.c2}`,
    );
  }

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
    if (recomputed.chunkCommitments[j] !== signals[j].commitment) {
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
  if (expected.data) {
    if (!circuits.dataValidity)
      throw new ProofMissingError(
        "the job requires a data-validity proof but no circuit was given",
      );
    const dataProofs = proofs.filter((p) => p.circuitId === circuits.dataValidity!.id);
    if (dataProofs.length !== 1) {
      throw new ProofMissingError(`expected one data-validity proof, got ${dataProofs.length}`);
    }
    checkDataSignals(dataProofs[0].publicSignals, expected, expected.data);
    samples = expected.data.samples;
    items.push({ circuit: "dataValidity", item: dataProofs[0], label: "data validity" });
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

function checkDataSignals(
  publicSignals: readonly string[],
  context: ProofContextParameters,
  expected: ExpectedDataValidity,
): void {
  const s = parseDataValiditySignals(publicSignals);
  if (s.context !== contextValue(context, DATA_VALIDITY_INDEX)) {
    throw new ContextMismatchError(
      "the data-validity proof is bound to another job, round, model or device",
    );
  }
  if (s.publicKeyX !== expected.publicKey[0] || s.publicKeyY !== expected.publicKey[1]) {
    throw new UnregisteredKeyError("the dataset is signed by a key the device did not register");
  }
  if (s.datasetCommitment !== expected.datasetCommitment) {
    throw new DatasetMismatchError(
      "the data-validity proof is about another dataset than the one registered at enrolment",
    );
  }
  if (s.sampleCount !== BigInt(expected.samples)) {
    throw new DatasetMismatchError(
      `the data-validity proof shows ${s.sampleCount} samples, the upload claims ${expected.samples}`,
    );
  }
  if (s.minSamples !== BigInt(expected.minSamples)) {
    throw new SchemaMismatchError(
      `the data-validity proof checks at least ${s.minSamples} samples, the job requires ${expected.minSamples}`,
    );
  }
  if (
    s.featureMin !== toField(expected.featureMin) ||
    s.featureMax !== toField(expected.featureMax)
  ) {
    throw new SchemaMismatchError(
      "the data-validity proof checks other feature bounds than the job's schema",
    );
  }
  if (s.classes !== BigInt(expected.classes)) {
    throw new SchemaMismatchError(
      `the data-validity proof checks ${s.classes} classes, the job has ${expected.classes}`,
    );
  }
}
