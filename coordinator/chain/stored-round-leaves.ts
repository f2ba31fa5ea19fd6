import { FedproofError } from "../../common/errors.js";
import {
  type ContributionLeafInput,
  leafProofsOf,
} from "../../protocol/provenance/round-leaves.js";
import type { JobStore } from "../store/job-store.js";

/** A contribution whose device has no record: its key and payout address are unknown. */
export class MissingDeviceRecordError extends FedproofError {
  override name = "MissingDeviceRecordError";
  constructor(shortMessage: string) {
    super(shortMessage, { code: "FAILED_PRECONDITION" });
  }
}

export interface StoredLeafInput extends ContributionLeafInput {
  updateHash: string;
  /** The verified chunks' KZG commitments and openings (public; never the blinding). */
  kzgCommitments?: string[];
  kzgOpenings?: string[];
}

/**
 * A stored round's contributions joined with their devices' keys and payout addresses: the raw
 * fields the anchor worker anchors and the bundle exporter exports, read the same way by both.
 */
export async function storedRoundLeafInputs(
  store: JobStore,
  jobId: string,
  round: number,
): Promise<StoredLeafInput[]> {
  const contributions = await store.contributions(jobId, round);
  return Promise.all(
    contributions.map(async (contribution) => {
      const device = await store.findDevice(jobId, contribution.deviceId);
      if (!device) {
        throw new MissingDeviceRecordError(
          `round ${round} of job ${jobId} has a contribution from ${contribution.deviceId}, which has no device record`,
        );
      }
      return {
        deviceId: contribution.deviceId,
        publicKey: device.publicKey,
        payoutAddress: device.payoutAddress ?? "",
        commitment: contribution.commitment ?? "",
        samples: contribution.samples,
        proofs: leafProofsOf(contribution.proofs ?? [], contribution.deviceId),
        updateHash: contribution.updateHash,
        ...(contribution.kzgCommitments ? { kzgCommitments: contribution.kzgCommitments } : {}),
        ...(contribution.kzgOpenings ? { kzgOpenings: contribution.kzgOpenings } : {}),
      };
    }),
  );
}
