import type { sendUnaryData } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { quote } from "../../common/errors.js";
import type { Contribution } from "../../proto/generated/fedproof/v1/Contribution.js";
import type { NoiseProof } from "../../proto/generated/fedproof/v1/NoiseProof.js";
import type { ProvenanceHandlers } from "../../proto/generated/fedproof/v1/Provenance.js";
import { canonicalJson } from "../../protocol/job/job-spec.js";
import { leafProofsOf, proofHashOf } from "../../protocol/provenance/round-leaves.js";
import { NotFoundError } from "../errors.js";
import { roundToMessage } from "../jobs/job-messages.js";
import type { NoiseProof as StoredNoiseProof } from "../privacy/prove-noise.js";
import type { ArtifactStore } from "../store/artifact-store.js";
import type { ContributionRecord, DeviceRecord, JobStore } from "../store/job-store.js";
import { answerUnary } from "./status.js";

export interface ProvenanceServiceParameters {
  store: JobStore;
  /** Where the rounds' aggregates and the initial model are read from. */
  artifacts: ArtifactStore;
  logger: Logger;
}

function contributionToMessage(
  record: ContributionRecord,
  device: DeviceRecord | undefined,
): Contribution {
  return {
    jobId: record.jobId,
    round: record.round,
    deviceId: record.deviceId,
    publicKey: Buffer.from(device?.publicKey ?? "", "hex"),
    datasetCommitment: Buffer.from(device?.datasetCommitment ?? "", "hex"),
    datasetSignature: Buffer.from(device?.datasetSignature ?? "", "hex"),
    payoutAddress: device?.payoutAddress ?? "",
    updateHash: record.updateHash,
    commitment: Buffer.from(record.commitment, "hex"),
    proofs: record.proofs,
    kzgCommitments: (record.kzgCommitments ?? []).map((c) => Buffer.from(c.slice(2), "hex")),
    kzgOpenings: (record.kzgOpenings ?? []).map((c) => Buffer.from(c.slice(2), "hex")),
    samples: record.samples,
    accepted: true,
    reason: "",
    // The hash the round's Merkle leaf commits to (round-leaves.ts), KZG commitments included.
    proofHash: proofHashOf(
      leafProofsOf(record.proofs, record.deviceId),
      record.kzgCommitments,
      record.deviceId,
    ),
    metrics: record.metrics,
  };
}

/**
 * An artifact's bytes, or none when the store does not hold it (a coordinator whose store was
 * replaced): the verifier then reports the aggregation unchecked instead of the round failing.
 */
async function artifactOrEmpty(artifacts: ArtifactStore, hash: string): Promise<Buffer> {
  if (!hash || !(await artifacts.has(hash))) return Buffer.alloc(0);
  return Buffer.from(await artifacts.get(hash));
}

/** A "0x…" field element as 32 big-endian bytes. */
function fieldBytes(hex: string): Buffer {
  return Buffer.from(hex.replace(/^0x/, "").padStart(64, "0"), "hex");
}

/** The round record's noise proof JSON (coordinator/privacy/prove-noise.ts) as proto NoiseProof. */
function noiseToMessage(json: string): NoiseProof {
  const noise = JSON.parse(json) as StoredNoiseProof;
  return {
    circuitId: noise.circuitId,
    proofs: noise.proofs.map((p) => ({
      circuitId: noise.circuitId,
      proofJson: JSON.stringify(p.proof),
      publicSignals: p.publicSignals,
    })),
    kzgCommitments: noise.kzgCommitments.map((c) => Buffer.from(c.slice(2), "hex")),
    kzgOpenings: noise.kzgOpenings.map((c) => Buffer.from(c.slice(2), "hex")),
  };
}

/** Verifier-facing handlers: everything needed to re-check a round, all public. */
export function createProvenanceHandlers(
  parameters: ProvenanceServiceParameters,
): ProvenanceHandlers {
  const { store, artifacts, logger } = parameters;
  const answer = <T>(work: () => Promise<T>, callback: sendUnaryData<T>) =>
    answerUnary(work, callback, logger);
  const withKey = async (record: ContributionRecord) =>
    contributionToMessage(record, await store.findDevice(record.jobId, record.deviceId));

  return {
    GetRound(call, callback) {
      answer(async () => {
        const { jobId, round } = call.request;
        const record = await store.getRound(jobId, round);
        const contributions = await store.contributions(jobId, round);
        const job = await store.getJob(jobId);
        return {
          round: roundToMessage(record, await store.rejections(jobId, round)),
          contributions: await Promise.all(contributions.map(withKey)),
          parentHash: record.globalModelHash,
          contributionsRoot: record.contributionsRoot,
          anchorTx: record.anchorTx,
          specJson: canonicalJson(job.spec),
          aggregateHash: record.aggregateHash,
          aggregate: await artifactOrEmpty(artifacts, record.aggregateHash),
          aggregateBlinding: record.aggregateBlinding
            ? (JSON.parse(record.aggregateBlinding) as [string, string][]).map(([r0, r1]) =>
                Buffer.concat([fieldBytes(r0), fieldBytes(r1)]),
              )
            : [],
          initialModel:
            round === 1 ? await artifactOrEmpty(artifacts, job.initialModelHash) : Buffer.alloc(0),
          ...(record.noiseProof ? { noise: noiseToMessage(record.noiseProof) } : {}),
        };
      }, callback);
    },

    GetContribution(call, callback) {
      answer(async () => {
        const { jobId, round, deviceId } = call.request;
        const found = (await store.contributions(jobId, round)).find(
          (c) => c.deviceId === deviceId,
        );
        if (!found)
          throw new NotFoundError(
            `no accepted contribution from ${quote(deviceId)} in round ${round} of job ${quote(jobId)}`,
          );
        return withKey(found);
      }, callback);
    },
  };
}
