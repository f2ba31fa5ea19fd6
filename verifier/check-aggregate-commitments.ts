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
 * Pure: no chain, no proofs verified here (verify-model.ts checks the Groth16 proofs and their
 * signals; a bad proof is reported there).
 */
import type { Hex } from "viem";
import { decodeAggregate } from "../protocol/aggregation/aggregate-codec.js";
import { aggregationWeight } from "../protocol/job/aggregation-weight.js";
import type { JobSpec } from "../protocol/job/job-spec.js";
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
  if (spec.privacy.noiseMultiplier > 0) {
    return unchecked(
      "the central-DP noise added to the aggregate is not committed, so S + N is no weighted sum of the commitments",
      false,
    );
  }
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
        `the aggregate is not the weighted sum of the round's committed contributions (chunk ${k}: Σ wᵢ·Cᵢ ≠ commitment of S)`,
      );
    }
  }
  return { status: "match", mismatches: [] };
}
