import type { AnchorRoundParameters } from "../../coordinator/chain/registry-types.js";
import type { BundleRound } from "../../verifier/provenance-bundle.js";

/** The `anchorRound` arguments that make the registry hold what a bundle round says of itself. */
export function anchorOfBundleRound(jobId: bigint, round: BundleRound): AnchorRoundParameters {
  return {
    jobId,
    round: round.round,
    modelHash: round.modelHash,
    parentHash: round.parentHash,
    contributionsRoot: round.contributionsRoot,
    creditsRoot: round.creditsRoot!,
    contributors: round.contributors,
    totalCredits: BigInt(round.totalCredits!),
    aggregateHash: round.aggregateHash,
  };
}
