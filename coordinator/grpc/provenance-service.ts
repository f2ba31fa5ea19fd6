import { createHash } from "node:crypto";
import type { sendUnaryData } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { quote } from "../../common/errors.js";
import type { Contribution } from "../../proto/generated/fedproof/v1/Contribution.js";
import type { ProvenanceHandlers } from "../../proto/generated/fedproof/v1/Provenance.js";
import { canonicalJson } from "../../protocol/job/job-spec.js";
import { NotFoundError } from "../errors.js";
import { roundToMessage } from "../jobs/job-messages.js";
import type { ContributionRecord, DeviceRecord, JobStore } from "../store/job-store.js";
import { answerUnary } from "./status.js";

export interface ProvenanceServiceParameters {
  store: JobStore;
  logger: Logger;
}

/** sha256 over the proofs' canonical JSON: what a round's Merkle leaf commits to. */
export function proofHash(contribution: ContributionRecord): string {
  const hasher = createHash("sha256");
  for (const proof of contribution.proofs)
    hasher.update(proof.proofJson).update(proof.publicSignals.join(","));
  return hasher.digest("hex");
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
    proofHash: proofHash(record),
    metrics: record.metrics,
  };
}

/** Verifier-facing handlers: everything needed to re-check a round, all public. */
export function createProvenanceHandlers(
  parameters: ProvenanceServiceParameters,
): ProvenanceHandlers {
  const { store, logger } = parameters;
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
