import {
  jobVerificationKeyHash,
  type VerificationKeys,
} from "../../protocol/provenance/job-vkey-hash.js";
import { sha256HexToBytes32 } from "../../protocol/provenance/merkle.js";
import {
  BUNDLE_FORMAT,
  type BundleChain,
  type BundleRound,
  buildBundleRound,
  normaliseChain,
  type ProvenanceBundle,
} from "../../verifier/provenance-bundle.js";
import type { JobStore } from "../store/job-store.js";
import { storedRoundLeafInputs } from "./stored-round-leaves.js";

export interface ExportBundleParameters {
  store: JobStore;
  jobId: string;
  chain: BundleChain;
  /** The job's verification keys by circuit id; none for a job without proofs. */
  verificationKeys?: VerificationKeys;
}

/**
 * The bundle of a job from the coordinator's store: every completed (or anchored) round, in order,
 * up to the first round that is not.
 */
export async function exportBundle(parameters: ExportBundleParameters): Promise<ProvenanceBundle> {
  const { store, jobId, chain } = parameters;
  const job = await store.getJob(jobId);
  const rounds: BundleRound[] = [];
  for (let round = 1; round <= job.currentRound; round++) {
    const record = await store.findRound(jobId, round);
    if (!record || !["COMPLETED", "ANCHORED"].includes(record.state) || !record.modelHash) break;
    rounds.push(
      buildBundleRound({
        round,
        modelHash: record.modelHash,
        parentHash: record.globalModelHash || (round === 1 ? job.initialModelHash : ""),
        epsilon: record.epsilon,
        anchorTx: record.anchorTx,
        contributions: await storedRoundLeafInputs(store, jobId, round),
      }),
    );
  }
  const verificationKeys = { ...(parameters.verificationKeys ?? {}) };
  return {
    format: BUNDLE_FORMAT,
    jobId,
    chain: normaliseChain(chain),
    specHash: sha256HexToBytes32(job.specHash, "spec hash"),
    spec: job.spec,
    initialModelHash: sha256HexToBytes32(job.initialModelHash, "initial model hash"),
    vkeyHash: jobVerificationKeyHash(verificationKeys),
    verificationKeys,
    rounds,
  };
}
