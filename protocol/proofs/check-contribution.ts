/**
 * What a contribution's public signals must say, checked the same way by the coordinator before
 * it accepts an update (coordinator/proofs/verify-contribution.ts) and by `fedproof verify`
 * after the round is anchored (verifier/verify-model.ts). A proof verifies against its key
 * whatever numbers it was made for; these checks are what make the numbers the job's:
 *
 * - the clip bound C2 is ⌊(C/scale)²⌋ of the round's C and the spec's scale, never the prover's
 *   choice (a proof against C2 = 2^40 is a valid proof of nothing useful);
 * - the UpdateNorm chunks cover exactly the model's parameters, chained by their public running
 *   sums from 0, and the total stays under C2 (a dropped chunk leaves values unproven);
 * - exactly one DataValidity proof, each of its public signals equal to what the spec, the
 *   device's enrolment and the round's challenge say, and the sample count it proves is the
 *   weight the contribution claims (a device cannot weigh 1,000,000 samples with 40);
 * - when the anchored commitment is known, it is the sponge over the chunk commitments;
 * - when the chunks' KZG commitments are known, each proof's public `kzgChallenge` is the x
 *   its KZG commitment, context and Poseidon commitment give (protocol/proving/kzg-challenge.ts):
 *   a proof made for a challenge of the prover's choosing would tie the KZG commitment to
 *   nothing. (The openings themselves are pairing checks, run where the pairings run.)
 *
 * Two steps, both shared: `contributionExpectations` derives what the signals must equal from the
 * spec, the round and the enrolment; `checkContributionSignals` compares. `checkContribution`
 * runs both. Problems are returned, not thrown, in the order the coordinator checks them: the
 * coordinator rejects on the first, the verifier reports them all.
 */
import { hexToBytes } from "viem";
import type { JobSpec } from "../job/job-spec.js";
import { schemaBounds } from "../proving/dataset-commitment.js";
import { featureScaleFor } from "../proving/feature-scale.js";
import { idToField, toField } from "../proving/field.js";
import { kzgChallenge } from "../proving/kzg-challenge.js";
import { poseidonSponge } from "../proving/poseidon.js";
import { decodeFieldElement, decodePublicKey } from "../proving/proof-codec.js";
import {
  contextValue,
  DATA_VALIDITY_INDEX,
  type ProofContextParameters,
} from "../proving/proof-context.js";
import { chunkCount, type UpdateNormParameters } from "../proving/update-norm-parameters.js";
import { quantizedNormBound } from "../update/quantize.js";
import {
  type DataValiditySignals,
  parseDataValiditySignals,
  parseUpdateNormSignals,
  type UpdateNormSignals,
} from "./public-signals.js";

/** Which rule a problem breaks; the coordinator maps each to its ProofRejectedError subclass. */
export type ContributionCheck =
  | "proof-missing"
  | "context"
  | "clip-bound"
  | "chunk-chain"
  | "norm-bound"
  | "commitment"
  | "kzg"
  | "dataset"
  | "schema"
  | "unregistered-key";

export interface ContributionProblem {
  check: ContributionCheck;
  message: string;
  /**
   * Set when the problem is in a data-validity proof the contribution carries: the device then
   * tried to pass off data the check refuses, and the coordinator excludes it from the job.
   */
  proof?: "data-validity";
}

/** What the job and the device's enrolment say the data proof must show. */
export interface ExpectedDataValidity {
  /** The dataset commitment the device registered at Join. */
  datasetCommitment: bigint;
  /** The Baby Jubjub public key the device registered at Join. */
  publicKey: readonly [bigint, bigint];
  /** The sample count the contribution claims: its aggregation weight. */
  samples: number;
  minSamples: number;
  /** Schema bounds in integer feature units (protocol/proving/dataset-commitment.ts). */
  featureMin: bigint;
  featureMax: bigint;
  classes: number;
  /** The job's attester root; 0 (or absent) for a job whose devices attest their own data. */
  attesterRoot?: bigint;
  /**
   * The dataset's nullifier as the device's enrolment recorded it; absent when the enrolment
   * does not say (the verifier then checks that one device shows one value, and no two devices
   * the same).
   */
  nullifier?: bigint;
}

export interface ExpectedContribution extends ProofContextParameters {
  /** ⌊(C/scale)²⌋ for this round. */
  c2: bigint;
  /** Absent only where a test checks chunk proofs alone; every job with proofs has one. */
  data?: ExpectedDataValidity;
}

/** The device's enrolment (JoinRequest) as the store and the bundle keep it: hex. */
export interface ContributionEnrolment {
  /** 64-byte Baby Jubjub public key x ‖ y. */
  publicKey: string;
  /** 32-byte dataset commitment Poseidon(root, sampleCount). */
  datasetCommitment: string;
}

export interface ContributionExpectationsParameters {
  spec: Pick<JobSpec, "clipNorm" | "quantization" | "minSamples" | "schema">;
  /**
   * C of this round as the round record keeps it (adaptive clipping moves it); 0 or absent
   * means the spec's clipNorm.
   */
  roundClipNorm?: number;
  /** Bits of a stored feature in the job's data-validity circuit. */
  featureBits: number;
  enrolment: ContributionEnrolment;
  context: ProofContextParameters;
  /** The sample count the contribution claims. */
  samples: number;
  /** The job's attester root; absent or 0 for a job without attesters. */
  attesterRoot?: bigint;
  /** The nullifier the enrolment recorded, when it did. */
  nullifier?: bigint;
}

export interface ContributionExpectationsReturnType {
  expected: ExpectedContribution;
  /** The clip norm C2 came from. */
  clipNorm: number;
  /** An enrolment that cannot be decoded: nothing can match it. */
  problems: ContributionProblem[];
}

/** What a contribution's signals must equal, from the spec, the round and the enrolment alone. */
export function contributionExpectations(
  parameters: ContributionExpectationsParameters,
): ContributionExpectationsReturnType {
  const { spec, enrolment } = parameters;
  const problems: ContributionProblem[] = [];
  const decode = (what: string, hex: string, decoder: (bytes: Uint8Array) => bigint[]) => {
    try {
      // Not Buffer: protocol/ runs in browsers too.
      return decoder(hexToBytes(`0x${hex.replace(/^0x/, "")}`));
    } catch (error) {
      problems.push({
        check: "unregistered-key",
        message: `the device's enrolment has no valid ${what}: ${(error as Error).message}`,
      });
      // Matches no signal: a field element is below the modulus.
      return [-1n, -1n];
    }
  };
  const [x, y] = decode("public key", enrolment.publicKey, (bytes) => {
    const key = decodePublicKey(bytes);
    return [key.x, key.y];
  }) as [bigint, bigint];
  const [datasetCommitment] = decode("dataset commitment", enrolment.datasetCommitment, (bytes) => [
    decodeFieldElement(bytes, "dataset commitment"),
  ]) as [bigint];
  const clipNorm = parameters.roundClipNorm || spec.clipNorm;
  const bounds = schemaBounds({
    featureScale: featureScaleFor(spec.schema, parameters.featureBits),
    min: spec.schema.min,
    max: spec.schema.max,
  });
  return {
    clipNorm,
    problems,
    expected: {
      ...parameters.context,
      c2: quantizedNormBound(clipNorm, spec.quantization.scale),
      data: {
        datasetCommitment,
        publicKey: [x, y],
        samples: parameters.samples,
        minSamples: spec.minSamples,
        featureMin: bounds.featureMin,
        featureMax: bounds.featureMax,
        classes: spec.schema.classes,
        attesterRoot: parameters.attesterRoot ?? 0n,
        ...(parameters.nullifier === undefined ? {} : { nullifier: parameters.nullifier }),
      },
    },
  };
}

export interface CheckContributionSignalsParameters {
  /** The job's circuits: which ids its proofs may carry, and how much one chunk proves. */
  circuits: {
    updateNorm: { id: string; parameters: UpdateNormParameters };
    dataValidity?: { id: string };
  };
  proofs: readonly { circuitId: string; publicSignals: readonly string[] }[];
  expected: ExpectedContribution;
  /** Parameters of the model, hence values of the update. */
  paramCount: number;
  /** The job's quantisation bits. */
  bits: number;
  /** Hex of the anchored commitment; absent when the caller recomputes it from the bytes. */
  commitment?: string;
  /**
   * The chunks' KZG commitments (G1Hex, chunk order), as uploaded or bundled; absent for a
   * bundle made before KZG commitments existed (nothing to tie the proofs to then).
   */
  kzgCommitments?: readonly string[];
}

export interface CheckContributionSignalsReturnType {
  /** Empty when every signal is the job's. */
  problems: ContributionProblem[];
  /** Parsed chunk signals in chunk order (the parseable ones). */
  chunks: UpdateNormSignals[];
  /** Σ partialSum over the chunks. */
  squaredNorm: bigint;
  /** Poseidon sponge over the chunk commitments; undefined without chunks. */
  commitment: bigint | undefined;
}

/** Every way the proofs' public signals differ from `expected`; see the file comment. */
export function checkContributionSignals(
  parameters: CheckContributionSignalsParameters,
): CheckContributionSignalsReturnType {
  const { circuits, expected, paramCount } = parameters;
  const problems: ContributionProblem[] = [];
  const problem = (check: ContributionCheck, message: string, proof?: "data-validity") => {
    if (!problems.some((p) => p.message === message))
      problems.push({ check, message, ...(proof ? { proof } : {}) });
  };
  const circuit = circuits.updateNorm.parameters;
  if (circuit.bits !== parameters.bits) {
    problem(
      "proof-missing",
      `the job quantises to ${parameters.bits} bits, circuit ${circuits.updateNorm.id} proves ${circuit.bits}-bit values`,
    );
  }
  const known = new Set([circuits.updateNorm.id, circuits.dataValidity?.id]);
  for (const proof of parameters.proofs) {
    if (!known.has(proof.circuitId))
      problem("proof-missing", `proof for unknown circuit ${proof.circuitId}`);
  }

  // 1. UpdateNorm: one chunk proof per n values, chained from 0, under the round's C2.
  const chunkProofs = parameters.proofs.filter((p) => p.circuitId === circuits.updateNorm.id);
  const expectedChunks = chunkCount(paramCount, circuit);
  if (chunkProofs.length !== expectedChunks) {
    problem(
      "proof-missing",
      `expected ${expectedChunks} UpdateNorm chunk proof${expectedChunks === 1 ? "" : "s"} for ${paramCount} parameters (chunks of ${circuit.n}), got ${chunkProofs.length}`,
    );
  }
  const chunks: UpdateNormSignals[] = [];
  let running = 0n;
  chunkProofs.forEach((proof, j) => {
    let s: UpdateNormSignals;
    try {
      s = parseUpdateNormSignals(proof.publicSignals, j);
    } catch (error) {
      problem("proof-missing", `UpdateNorm ${(error as Error).message}`);
      return;
    }
    chunks.push(s);
    if (s.context !== contextValue(expected, j)) {
      problem(
        "context",
        `UpdateNorm chunk proof ${j} is bound to another job, round, parent model, device, round challenge seed or chunk position`,
      );
    }
    if (s.c2 !== expected.c2) {
      problem(
        "clip-bound",
        `UpdateNorm chunk proof ${j} proves Σq² against C2 = ${s.c2}, the round's bound is ${expected.c2}`,
      );
    }
    if (s.sumBefore !== running) {
      problem(
        "chunk-chain",
        `UpdateNorm chunk proof ${j} starts from Σq² = ${s.sumBefore}, the chunks before it sum to ${running}`,
      );
    }
    running += s.partialSum;
  });
  if (running > expected.c2) {
    problem("norm-bound", `the proven Σq² = ${running} exceeds the clip bound C2 = ${expected.c2}`);
  }
  const kzgCommitments = parameters.kzgCommitments;
  if (kzgCommitments !== undefined) {
    if (kzgCommitments.length !== chunkProofs.length) {
      problem(
        "kzg",
        `expected one KZG commitment per UpdateNorm chunk proof (${chunkProofs.length}), got ${kzgCommitments.length}`,
      );
    }
    chunks.forEach((s, j) => {
      const commitment = kzgCommitments[j];
      if (commitment === undefined) return;
      let x: bigint;
      try {
        x = kzgChallenge({
          context: s.context,
          commitment: s.commitment,
          kzgCommitment: commitment,
        });
      } catch (error) {
        problem(
          "kzg",
          `the KZG commitment of chunk ${j} is malformed: ${(error as Error).message}`,
        );
        return;
      }
      if (s.kzgChallenge !== x) {
        problem(
          "kzg",
          `UpdateNorm chunk proof ${j} was made for KZG challenge ${s.kzgChallenge}, its KZG commitment, context and commitment give ${x}`,
        );
      }
    });
  }
  const commitment =
    chunks.length > 0 ? poseidonSponge(chunks.map((s) => s.commitment)) : undefined;
  if (parameters.commitment !== undefined && commitment !== undefined) {
    const anchored = parameters.commitment.replace(/^0x/, "");
    if (
      anchored === "" ||
      !/^[0-9a-fA-F]+$/.test(anchored) ||
      BigInt(`0x${anchored}`) !== commitment
    ) {
      problem(
        "commitment",
        anchored === ""
          ? "no commitment was recorded for the proven update"
          : "the UpdateNorm proofs commit to another update than the anchored commitment",
      );
    }
  }

  // 2. DataValidity: exactly one, each public signal the job's, the enrolment's or the round's.
  if (expected.data && circuits.dataValidity) {
    const dataProofs = parameters.proofs.filter((p) => p.circuitId === circuits.dataValidity!.id);
    if (dataProofs.length !== 1) {
      problem("proof-missing", `expected one data-validity proof, got ${dataProofs.length}`);
    }
    if (dataProofs[0]) {
      let signals: DataValiditySignals | undefined;
      try {
        signals = parseDataValiditySignals(dataProofs[0].publicSignals);
      } catch (error) {
        problem("proof-missing", (error as Error).message, "data-validity");
      }
      if (signals) {
        for (const p of dataValidityProblems(signals, expected, expected.data))
          problem(p.check, p.message, "data-validity");
      }
    }
  } else if (expected.data) {
    problem(
      "proof-missing",
      "the job requires a data-validity proof but names no data-validity circuit",
    );
  }
  return { problems, chunks, squaredNorm: running, commitment };
}

interface SignalExpectation {
  /** Undefined: nothing to compare with (see ExpectedDataValidity.nullifier). */
  expected: bigint | undefined;
  check: ContributionCheck;
  message: (got: bigint) => string;
}

/**
 * One entry per DataValidity public signal, in the order they are checked: a proof from another
 * round is a replay whatever else differs, and a foreign key says more than the dataset it
 * signed. The type makes a new signal in public-signals.ts a compile error here until someone
 * says what it must equal.
 */
function dataValidityProblems(
  signals: DataValiditySignals,
  context: ProofContextParameters,
  data: ExpectedDataValidity,
): ContributionProblem[] {
  const wrongKey = () => "the dataset is signed by a key the device did not register";
  const expectations: Record<keyof DataValiditySignals, SignalExpectation> = {
    context: {
      expected: contextValue(context, DATA_VALIDITY_INDEX),
      check: "context",
      message: () =>
        "the data-validity proof is bound to another job, round, parent model, device or round challenge seed",
    },
    publicKeyX: { expected: data.publicKey[0], check: "unregistered-key", message: wrongKey },
    publicKeyY: { expected: data.publicKey[1], check: "unregistered-key", message: wrongKey },
    datasetCommitment: {
      expected: data.datasetCommitment,
      check: "dataset",
      message: () =>
        "the data-validity proof is about another dataset than the one registered at enrolment",
    },
    sampleCount: {
      expected: BigInt(data.samples),
      check: "dataset",
      message: (got) =>
        `the data-validity proof proves ${got} samples, the contribution claims ${data.samples} (its aggregation weight)`,
    },
    minSamples: {
      expected: BigInt(data.minSamples),
      check: "schema",
      message: (got) =>
        `the data-validity proof checks at least ${got} samples, the job requires ${data.minSamples}`,
    },
    featureMin: {
      expected: toField(data.featureMin),
      check: "schema",
      message: (got) =>
        `the data-validity proof checks features from ${got}, the job's schema from ${toField(data.featureMin)}`,
    },
    featureMax: {
      expected: toField(data.featureMax),
      check: "schema",
      message: (got) =>
        `the data-validity proof checks features up to ${got}, the job's schema up to ${toField(data.featureMax)}`,
    },
    classes: {
      expected: BigInt(data.classes),
      check: "schema",
      message: (got) =>
        `the data-validity proof checks ${got} classes, the job has ${data.classes}`,
    },
    attesterRoot: {
      expected: data.attesterRoot ?? 0n,
      check: "schema",
      message: (got) =>
        got === 0n
          ? "the data-validity proof is self-attested, the job requires an attester's signature"
          : `the data-validity proof checks attester root ${got}, the job's is ${data.attesterRoot ?? 0n}`,
    },
    jobScope: {
      expected: idToField(context.jobId),
      check: "context",
      message: () => "the data-validity proof is scoped to another job",
    },
    nullifier: {
      expected: data.nullifier,
      check: "dataset",
      message: () =>
        "the data-validity proof shows another nullifier than the device enrolled with",
    },
  };
  const problems: ContributionProblem[] = [];
  for (const name of Object.keys(expectations) as (keyof DataValiditySignals)[]) {
    const { expected, check, message } = expectations[name];
    if (expected === undefined || signals[name] === expected) continue;
    const text = message(signals[name]);
    if (!problems.some((p) => p.message === text)) problems.push({ check, message: text });
  }
  return problems;
}

export type CheckContributionParameters = Omit<ContributionExpectationsParameters, "featureBits"> &
  Omit<CheckContributionSignalsParameters, "expected" | "bits" | "circuits"> & {
    circuits: {
      updateNorm: { id: string; parameters: UpdateNormParameters };
      dataValidity: { id: string; parameters: { featureBits: number } };
    };
  };

export interface CheckContributionReturnType extends CheckContributionSignalsReturnType {
  expected: ExpectedContribution;
  clipNorm: number;
}

/** Both steps: the problems of a contribution to a job with proofs, from what the job says. */
export function checkContribution(
  parameters: CheckContributionParameters,
): CheckContributionReturnType {
  const { circuits } = parameters;
  const derived = contributionExpectations({
    ...parameters,
    featureBits: circuits.dataValidity.parameters.featureBits,
  });
  const result = checkContributionSignals({
    ...parameters,
    bits: parameters.spec.quantization.bits,
    expected: derived.expected,
  });
  return {
    ...result,
    problems: [...derived.problems, ...result.problems],
    expected: derived.expected,
    clipNorm: derived.clipNorm,
  };
}
