/**
 * Whether a round's exact aggregate S is the weighted sum of the round's committed contributions
 * (circuits/README.md, "The aggregate check"), from the bundle alone:
 *
 * 1. every contribution's KZG openings verify against the job's SRS, in one `kzgVerifyBatch` over
 *    all chunks of all contributions of the round, each at the x that kzg-challenge.ts derives
 *    from the chunk proof's `context` and `commitment` signals and its C, to the proof's
 *    `evaluation` signal: so each Cᵢₖ commits to the range-checked values the proof is about;
 * 2. per chunk k, Σᵢ wᵢ·Cᵢₖ = kzgCommit(srs, [S_k, R0_k, R1_k]), with S_k the aggregate's
 *    coordinates k·n … (k+1)·n − 1 zero-padded to n (each through toField), R_k the bundle's
 *    aggregate blinding and wᵢ = aggregationWeight(samples, spec), the samples the DataValidity
 *    proof proved (verify-model.ts checks the bundled count against it). By binding, S_k ≡ Σ wᵢ·qᵢₖ
 *    (mod r) coordinate by coordinate;
 * 3. the congruence is the integer equality: the aggregate codec holds |S_j| ≤ 2^53 − 1 < r/2, and
 *    the proven |qᵢⱼ| ≤ 2^(bits−1) with Σ wᵢ ≤ 2^53 − 1 (the codec's bound on W) keeps
 *    |Σ wᵢ·qᵢⱼ| below 2^(53+bits−1) < r/2 for any bits ≤ 32, so two integers below r/2 in
 *    magnitude that agree mod r are equal.
 *
 * With central DP the aggregate is S + N, and the coordinator commits to its noise N chunk by
 * chunk as a device commits its update (coordinator/privacy/prove-noise.ts). Then also:
 *
 * 4. the noise proofs' signals are the job's: bound to the round's context under the device id no
 *    device can take, chained from 0 over every chunk, against the c2 the spec fixes
 *    (protocol/aggregation/noise-bound.ts), and each made for the x its C_N gives; each proof
 *    verifies against the noise circuit's pinned key; each C_N opens at its x to the proof's
 *    evaluation (in the same batch as the contributions' openings);
 * 5. per chunk, Σ wᵢ·Cᵢₖ + C_Nₖ = kzgCommit(srs, [S'_k, R_k]) with wᵢ = 1 (aggregationWeight:
 *    central DP weighs every contribution the same). So S' − Σ qᵢ is the committed N, whose Σ N² the proofs bound
 *    by c2: the aggregate is the contributions' sum up to a vector of norm at most √c2.
 *
 * Pure: no chain. The contributions' Groth16 proofs and signals are checked in verify-model.ts
 * (a bad proof is reported there); the noise proofs, which belong to no contribution, here.
 */
import type { Groth16VerificationKey } from "snarkjs";
import type { Hex } from "viem";
import { decodeAggregate } from "../protocol/aggregation/aggregate-codec.js";
import {
  NOISE_PROOF_DEVICE_ID,
  type NoiseProofParameters,
} from "../protocol/aggregation/noise-bound.js";
import { aggregationWeight } from "../protocol/job/aggregation-weight.js";
import type { JobSpec } from "../protocol/job/job-spec.js";
import { batchVerifyGroth16 } from "../protocol/proofs/batch-verify-groth16.js";
import { checkContributionSignals } from "../protocol/proofs/check-contribution.js";
import { parseUpdateNormSignals } from "../protocol/proofs/public-signals.js";
import { FIELD_MODULUS } from "../protocol/proving/field.js";
import {
  type G1Hex,
  type KzgOpening,
  type KzgSrs,
  kzgCommit,
  kzgLinearCombination,
  kzgVerifyBatch,
  toField,
} from "../protocol/proving/kzg.js";
import { kzgChallenge } from "../protocol/proving/kzg-challenge.js";
import type { ProofContextParameters } from "../protocol/proving/proof-context.js";
import type { UpdateNormParameters } from "../protocol/proving/update-norm-parameters.js";
import { type BundleRound, bytesOfBase64 } from "./provenance-bundle.js";

export interface CheckAggregateCommitmentsParameters {
  round: number;
  /** The round as the bundle gives it; undefined when the bundle lacks it. */
  bundled: BundleRound | undefined;
  /** The job's spec (the one the chain pins), for the weights and whether DP noise was added. */
  spec: JobSpec;
  /** The job's SRS from the bundle (pinned by the verification-key hash); undefined without one. */
  srs: KzgSrs | undefined;
  /** The job's UpdateNorm circuit: its id names the chunk proofs, n is the chunk size. */
  updateNorm: { id: string; parameters: { n: number } };
  /** With central DP: what the coordinator's noise proofs must show (see the file comment). */
  noise?: ExpectedNoise;
}

export interface ExpectedNoise {
  /** The job's noise chunk circuit, as its pinned key's id names it; undefined when none is. */
  circuit: { id: string; parameters: UpdateNormParameters } | undefined;
  /** Its pinned verification key; undefined when the bundle's keys are not the pinned ones. */
  verificationKey: Groth16VerificationKey | undefined;
  /** The spec's bound (noiseProofParameters), or why the spec gives none. */
  bound: NoiseProofParameters | { error: string };
  /** The round's proof context without the device; undefined without a challenge seed. */
  context: Omit<ProofContextParameters, "deviceId"> | undefined;
  /** Parameters of the model: the chunks must cover them all. */
  paramCount: number;
}

export interface CheckAggregateCommitmentsReturnType {
  status: "match" | "mismatch" | "unchecked";
  /** Why the round does not match, naming it (kind "aggregation"). */
  mismatches: { deviceId?: string; message: string }[];
  /**
   * Why the check did not run. `blocking`: the bundle should have let it run (the report is then
   * not ok); otherwise it is information (central-DP noise has no commitment yet).
   */
  unchecked?: { reason: string; blocking: boolean };
  /** With central DP and status "match": X = scale·√c2, the proven bound on the noise's norm. */
  noiseNorm?: number;
}

export async function checkAggregateCommitments(
  parameters: CheckAggregateCommitmentsParameters,
): Promise<CheckAggregateCommitmentsReturnType> {
  const { round, bundled, spec, srs } = parameters;
  const n = parameters.updateNorm.parameters.n;
  const unchecked = (reason: string, blocking = true): CheckAggregateCommitmentsReturnType => ({
    status: "unchecked",
    mismatches: [],
    unchecked: { reason: `round ${round}: aggregate commitments not checked: ${reason}`, blocking },
  });
  const mismatch = (message: string, deviceId?: string): CheckAggregateCommitmentsReturnType => ({
    status: "mismatch",
    mismatches: [{ ...(deviceId ? { deviceId } : {}), message: `round ${round}: ${message}` }],
  });
  const dp = spec.privacy.noiseMultiplier > 0;
  if (!bundled?.aggregate) {
    // The replay says whether a missing aggregate hides a checkable round (the anchor commits
    // to one) or is an older bundle's: not said twice here.
    return unchecked("the bundle carries no aggregate for the round", false);
  }
  if (!srs) return unchecked("the bundle carries no KZG SRS");
  if (!bundled.aggregateBlinding) {
    return unchecked("the bundle carries no aggregate blinding for the round");
  }
  let sum: Float64Array;
  try {
    sum = decodeAggregate(bytesOfBase64(bundled.aggregate, `round ${round}'s aggregate`)).sum;
  } catch (error) {
    // The replay reports the malformed aggregate as a mismatch already.
    return unchecked(`the aggregate is malformed: ${(error as Error).message}`, false);
  }
  const chunks = Math.ceil(sum.length / n);
  if (bundled.aggregateBlinding.length !== chunks) {
    return mismatch(
      `the aggregate blinding has ${bundled.aggregateBlinding.length} chunks, the aggregate of ${sum.length} values ${chunks}`,
    );
  }
  const blinding: [bigint, bigint][] = [];
  for (const [k, pair] of bundled.aggregateBlinding.entries()) {
    const values = pair.map((hex) => BigInt(hex));
    if (values.some((value) => value >= FIELD_MODULUS)) {
      return mismatch(`the aggregate blinding of chunk ${k} is not a field element`);
    }
    blinding.push([values[0]!, values[1]!]);
  }

  const openings: KzgOpening[] = [];
  const commitments: G1Hex[][] = [];
  const weights: bigint[] = [];
  for (const contribution of bundled.contributions) {
    const { deviceId } = contribution;
    const points = contribution.kzgCommitments;
    const proofs = contribution.kzgOpenings;
    if (!points || !proofs) {
      return unchecked(`the bundle carries no KZG commitments or openings for ${deviceId}`);
    }
    const chunkProofs = contribution.proofs.filter(
      (proof) => proof.circuitId === parameters.updateNorm.id,
    );
    if (points.length !== chunks || proofs.length !== chunks || chunkProofs.length !== chunks) {
      return mismatch(
        `${deviceId} carries ${points.length} KZG commitments, ${proofs.length} openings and ${chunkProofs.length} chunk proofs, the aggregate has ${chunks} chunks`,
        deviceId,
      );
    }
    for (let k = 0; k < chunks; k++) {
      try {
        const signals = parseUpdateNormSignals(chunkProofs[k]!.publicSignals, k);
        const commitment = points[k]! as G1Hex;
        openings.push({
          commitment,
          x: kzgChallenge({
            context: signals.context,
            commitment: signals.commitment,
            kzgCommitment: commitment,
          }),
          value: signals.evaluation,
          proof: proofs[k]! as G1Hex,
        });
      } catch (error) {
        return mismatch(
          `the KZG opening of ${deviceId}'s chunk ${k} cannot be read: ${(error as Error).message}`,
          deviceId,
        );
      }
    }
    commitments.push(points as G1Hex[]);
    weights.push(BigInt(aggregationWeight(contribution.samples, spec)));
  }
  if (commitments.length === 0) return unchecked("the round has no contributions");
  const contributionOpenings = openings.length;

  let noiseNorm: number | undefined;
  if (dp) {
    const noise = await checkNoise({ ...parameters, chunks, n });
    if ("unchecked" in noise) return unchecked(noise.unchecked);
    if ("mismatch" in noise) return mismatch(noise.mismatch);
    openings.push(...noise.openings);
    commitments.push(noise.commitments);
    weights.push(1n);
    noiseNorm = noise.norm;
  }

  let openingsHold: boolean;
  try {
    openingsHold = await kzgVerifyBatch(srs, openings);
  } catch (error) {
    return mismatch(`a KZG opening is malformed: ${(error as Error).message}`);
  }
  if (!openingsHold) {
    // Only to name who: one batch per contribution.
    for (const [i, contribution] of bundled.contributions.entries()) {
      const own = openings.slice(i * chunks, (i + 1) * chunks);
      if (!(await kzgVerifyBatch(srs, own))) {
        return mismatch(
          `the KZG openings of ${contribution.deviceId} do not verify against the job's SRS at the proofs' evaluations`,
          contribution.deviceId,
        );
      }
    }
    if (!(await kzgVerifyBatch(srs, openings.slice(contributionOpenings)))) {
      return mismatch(
        "the KZG openings of the DP noise commitments do not verify against the job's SRS at the noise proofs' evaluations",
      );
    }
    return mismatch("the round's KZG openings do not verify against the job's SRS");
  }

  for (let k = 0; k < chunks; k++) {
    const coefficients: bigint[] = new Array(n + 2).fill(0n);
    for (let j = 0; j < n && k * n + j < sum.length; j++) {
      coefficients[j] = toField(BigInt(sum[k * n + j]!));
    }
    coefficients[n] = blinding[k]![0];
    coefficients[n + 1] = blinding[k]![1];
    let expected: Hex;
    let weighted: Hex;
    try {
      weighted = await kzgLinearCombination(
        commitments.map((points) => points[k]!),
        weights,
      );
      expected = await kzgCommit(srs, coefficients);
    } catch (error) {
      return mismatch(
        `the commitment of chunk ${k} cannot be computed: ${(error as Error).message}`,
      );
    }
    if (weighted.toLowerCase() !== expected.toLowerCase()) {
      return mismatch(
        dp
          ? `the aggregate is not the sum of the round's committed contributions and the committed DP noise (chunk ${k}: Σ Cᵢ + C_N ≠ commitment of S + N)`
          : `the aggregate is not the weighted sum of the round's committed contributions (chunk ${k}: Σ wᵢ·Cᵢ ≠ commitment of S)`,
      );
    }
  }
  return { status: "match", mismatches: [], ...(noiseNorm === undefined ? {} : { noiseNorm }) };
}

type CheckNoiseReturnType =
  | { unchecked: string }
  | { mismatch: string }
  | { openings: KzgOpening[]; commitments: G1Hex[]; norm: number };

/** Steps 4 of the file comment: the noise proofs, their signals and their openings' inputs. */
async function checkNoise(
  parameters: CheckAggregateCommitmentsParameters & { chunks: number; n: number },
): Promise<CheckNoiseReturnType> {
  const { noise: expected, bundled, chunks, n } = parameters;
  const noise = bundled?.noise;
  if (!expected) return { unchecked: "the job's central-DP noise bound is not known" };
  if ("error" in expected.bound) {
    return { mismatch: `the spec fixes no bound on the DP noise: ${expected.bound.error}` };
  }
  if (!noise) {
    return {
      unchecked:
        "the bundle carries no commitment to the round's central-DP noise, so S + N is no sum of commitments",
    };
  }
  if (!expected.circuit) {
    return {
      mismatch: `the job's pinned keys name no noise circuit of ${n}-value chunks; the noise proofs name ${noise.circuitId}`,
    };
  }
  if (noise.circuitId !== expected.circuit.id) {
    return {
      mismatch: `the DP noise proofs are for circuit ${noise.circuitId}, the job's noise circuit is ${expected.circuit.id}`,
    };
  }
  if (!expected.context) {
    return {
      unchecked: "the bundle gives no challenge seed, which the noise proofs' context mixes in",
    };
  }
  const { bound } = expected;
  const signals = checkContributionSignals({
    circuits: { updateNorm: expected.circuit },
    proofs: noise.proofs.map((proof) => ({ circuitId: noise.circuitId, ...proof })),
    expected: { ...expected.context, deviceId: NOISE_PROOF_DEVICE_ID, c2: bound.c2 },
    paramCount: expected.paramCount,
    bits: expected.circuit.parameters.bits,
    kzgCommitments: noise.kzgCommitments,
  });
  if (signals.problems.length > 0) {
    return {
      mismatch: `the DP noise proofs do not prove the spec's bound Σ N² ≤ ${bound.c2}: ${signals.problems.map((problem) => problem.message).join("; ")}`,
    };
  }
  if (noise.kzgOpenings.length !== chunks || signals.chunks.length !== chunks) {
    return {
      mismatch: `the DP noise carries ${signals.chunks.length} chunk proofs and ${noise.kzgOpenings.length} KZG openings, the aggregate has ${chunks} chunks`,
    };
  }
  if (!expected.verificationKey) {
    return { unchecked: `the noise circuit ${expected.circuit.id} has no pinned verification key` };
  }
  let invalid: number[];
  try {
    ({ invalid } = await batchVerifyGroth16(
      expected.verificationKey,
      noise.proofs.map((proof) => ({
        proof: proof.proof as Parameters<typeof batchVerifyGroth16>[1][number]["proof"],
        publicSignals: proof.publicSignals,
      })),
    ));
  } catch (error) {
    return { mismatch: `a DP noise proof is malformed: ${(error as Error).message}` };
  }
  if (invalid.length > 0) {
    return {
      mismatch: `DP noise proof${invalid.length === 1 ? "" : "s"} ${invalid.join(", ")} do${invalid.length === 1 ? "es" : ""} not verify against the pinned key of ${expected.circuit.id}`,
    };
  }
  return {
    openings: signals.chunks.map((chunk, k) => ({
      commitment: noise.kzgCommitments[k]!,
      x: chunk.kzgChallenge,
      value: chunk.evaluation,
      proof: noise.kzgOpenings[k]!,
    })),
    commitments: noise.kzgCommitments,
    norm: bound.norm,
  };
}
