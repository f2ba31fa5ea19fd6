/**
 * What a contribution's proofs must say about the contribution itself, beyond verifying against
 * the pinned key. A valid proof copied from another round or device still verifies; its public
 * signals are what tie it to this one (client/core/proving/proof-context.ts):
 *
 * - every UpdateNorm chunk proof j carries context = Poseidon(job, round, parent model, device, j),
 *   and the chunks chain their running sums (sumBefore of chunk j = Σ partialSum of chunks < j)
 *   under one bound C2;
 * - the anchored commitment is the Poseidon sponge over the chunk commitments (the value the
 *   coordinator's contribution verifier returns and records);
 * - a DataValidity proof carries the context at index 2^32 and proves the sample count that the
 *   contribution claims and the round weighted it by.
 *
 * Circuits are recognised by their id prefix (circuits/circuit-catalog.ts `circuitName`); proofs
 * of other circuits are only checked against their key.
 */

import type { LeafProof } from "../protocol/provenance/round-leaves.js";
import { poseidonSponge } from "../protocol/proving/poseidon.js";
import { contextValue, DATA_VALIDITY_INDEX } from "../protocol/proving/proof-context.js";

export const UPDATE_NORM_PREFIX = "update-norm-";
export const DATA_VALIDITY_PREFIX = "data-validity-";

export interface ProofBindingParameters {
  /** The coordinator's job id (what devices bind their proofs to). */
  jobId: string;
  round: number;
  /** sha256 hex of the model the round trained from, with or without 0x. */
  parentHash: string;
  deviceId: string;
  /** Hex of the anchored commitment; "" when none was recorded. */
  commitment: string;
  samples: number;
  proofs: readonly LeafProof[];
}

/** Every way the proofs fail to describe this contribution; empty when they all fit. */
export function proofBindingProblems(parameters: ProofBindingParameters): string[] {
  const { jobId, round, deviceId, samples } = parameters;
  const parentHash = parameters.parentHash.replace(/^0x/, "");
  const context = { jobId, round, globalModelHash: parentHash, deviceId };
  const problems: string[] = [];
  const field = (signals: readonly string[], index: number): bigint | undefined => {
    try {
      return BigInt(signals[index] ?? "x");
    } catch {
      return undefined;
    }
  };

  const chunks = parameters.proofs.filter((p) => p.circuitId.startsWith(UPDATE_NORM_PREFIX));
  let running = 0n;
  let bound: bigint | undefined;
  const commitments: bigint[] = [];
  chunks.forEach((proof, j) => {
    const [commitment, partialSum, ctx, c2, sumBefore] = [0, 1, 2, 3, 4].map((i) =>
      field(proof.publicSignals, i),
    );
    if (
      proof.publicSignals.length !== 5 ||
      [commitment, partialSum, ctx, c2, sumBefore].includes(undefined)
    ) {
      problems.push(`UpdateNorm proof ${j} does not have the circuit's 5 public signals`);
      return;
    }
    if (ctx !== contextValue(context, j)) {
      problems.push(
        `UpdateNorm proof ${j} is bound to another job, round, parent model, device or chunk position`,
      );
    }
    if (sumBefore !== running) {
      problems.push(
        `UpdateNorm proof ${j} starts from Σq² = ${sumBefore}, its predecessors sum to ${running}`,
      );
    }
    bound ??= c2;
    if (c2 !== bound)
      problems.push(`UpdateNorm proof ${j} proves against C2 = ${c2}, proof 0 against ${bound}`);
    running += partialSum!;
    commitments.push(commitment!);
  });
  if (bound !== undefined && running > bound) {
    problems.push(`the proven Σq² = ${running} exceeds the bound C2 = ${bound}`);
  }
  if (commitments.length > 0 && parameters.commitment !== "") {
    const anchored = BigInt(`0x${parameters.commitment.replace(/^0x/, "") || "0"}`);
    if (poseidonSponge(commitments) !== anchored) {
      problems.push("the UpdateNorm proofs commit to another update than the anchored commitment");
    }
  }

  const data = parameters.proofs.filter((p) => p.circuitId.startsWith(DATA_VALIDITY_PREFIX));
  if (data.length > 1) problems.push(`${data.length} data-validity proofs, expected at most one`);
  for (const proof of data.slice(0, 1)) {
    if (field(proof.publicSignals, 0) !== contextValue(context, DATA_VALIDITY_INDEX)) {
      problems.push(
        "the data-validity proof is bound to another job, round, parent model or device",
      );
    }
    const proven = field(proof.publicSignals, 2);
    if (proven !== BigInt(samples)) {
      problems.push(
        `the data-validity proof proves ${proven} samples, the contribution claims ${samples}`,
      );
    }
  }
  return problems;
}
