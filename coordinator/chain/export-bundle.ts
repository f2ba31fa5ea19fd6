import { readFile } from "node:fs/promises";
import { InvalidArgumentError } from "../../common/errors.js";
import {
  jobVerificationKeyHash,
  type VerificationKeys,
} from "../../protocol/provenance/job-vkey-hash.js";
import { sha256HexToBytes32 } from "../../protocol/provenance/merkle.js";
import {
  BUNDLE_FORMAT,
  type BundleChain,
  type BundleNoiseProof,
  type BundleRound,
  type BundleRoundContributionInput,
  base64OfBytes,
  buildBundleRound,
  bundleKzgSrs,
  normaliseChain,
  type ProvenanceBundle,
} from "../../verifier/provenance-bundle.js";
import type { ArtifactStore } from "../store/artifact-store.js";
import type { JobStore } from "../store/job-store.js";
import { storedRoundLeafInputs } from "./stored-round-leaves.js";

export interface ExportBundleParameters {
  store: JobStore;
  jobId: string;
  chain: BundleChain;
  /** The job's verification keys by circuit id; none for a job without proofs. */
  verificationKeys?: VerificationKeys;
  /**
   * Where the initial model and the rounds' aggregates are read from. Without it the bundle
   * carries neither, and `fedproof verify` reports the aggregation as unchecked.
   */
  artifacts?: ArtifactStore;
}

/** The round's leaf inputs with each device's enrolment, which its data proofs are checked against. */
async function withEnrolments(
  store: JobStore,
  jobId: string,
  round: number,
): Promise<BundleRoundContributionInput[]> {
  const inputs = await storedRoundLeafInputs(store, jobId, round);
  return Promise.all(
    inputs.map(async (input) => {
      const device = await store.findDevice(jobId, input.deviceId);
      return {
        ...input,
        datasetCommitment: device?.datasetCommitment ?? "",
        datasetSignature: device?.datasetSignature ?? "",
      };
    }),
  );
}

/** The round record's `aggregateBlinding` JSON, checked for shape (it goes into a public bundle). */
function parseAggregateBlinding(json: string, round: number): [string, string][] {
  const value: unknown = JSON.parse(json);
  const hex32 = (x: unknown): x is string => typeof x === "string" && /^0x[0-9a-f]{64}$/i.test(x);
  if (
    !Array.isArray(value) ||
    !value.every((pair) => Array.isArray(pair) && pair.length === 2 && pair.every(hex32))
  ) {
    throw new InvalidArgumentError(`round ${round}'s stored aggregate blinding is malformed`);
  }
  return value as [string, string][];
}

/**
 * The bundle of a job from the coordinator's store: every completed (or anchored) round, in order,
 * up to the first round that is not, with the spec, each round's clip norm and each
 * contribution's enrolment and each round's aggregate KZG blinding; with `artifacts`, the initial
 * model and each round's exact aggregate (never an update).
 */
export async function exportBundle(parameters: ExportBundleParameters): Promise<ProvenanceBundle> {
  const { store, jobId, chain, artifacts } = parameters;
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
        clipNorm: record.clipNorm || job.spec.clipNorm,
        challengeSeed: record.challengeSeed,
        anchorTx: record.anchorTx,
        // "" (robust strategies) is bundled as the zero hash the chain anchors for it.
        aggregateHash: record.aggregateHash,
        ...(record.aggregateHash && artifacts
          ? { aggregateBytes: await artifacts.get(record.aggregateHash) }
          : {}),
        ...(record.aggregateBlinding
          ? { aggregateBlinding: parseAggregateBlinding(record.aggregateBlinding, round) }
          : {}),
        ...(record.noiseProof ? { noise: JSON.parse(record.noiseProof) as BundleNoiseProof } : {}),
        contributions: await withEnrolments(store, jobId, round),
      }),
    );
  }
  const verificationKeys = { ...(parameters.verificationKeys ?? {}) };
  // A job with proofs: the SRS its KZG commitments are checked against, as stored with its
  // circuits (the blob the verify workers read).
  const circuits =
    Object.keys(verificationKeys).length > 0 ? await store.loadJobCircuits(jobId) : undefined;
  const kzgSrs = circuits?.srs ? bundleKzgSrs(await readFile(circuits.srs.path)) : undefined;
  return {
    format: BUNDLE_FORMAT,
    jobId,
    chain: normaliseChain(chain),
    specHash: sha256HexToBytes32(job.specHash, "spec hash"),
    spec: job.spec,
    initialModelHash: sha256HexToBytes32(job.initialModelHash, "initial model hash"),
    ...(artifacts
      ? { initialModel: base64OfBytes(await artifacts.get(job.initialModelHash)) }
      : {}),
    vkeyHash: jobVerificationKeyHash(verificationKeys, kzgSrs?.hash),
    verificationKeys,
    ...(kzgSrs ? { kzgSrs } : {}),
    rounds,
  };
}
