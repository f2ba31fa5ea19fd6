import { type ConnectionOptions, type Job, UnrecoverableError, Worker } from "bullmq";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import { quantizedNormBound } from "../../client/core/update/prepare-update.js";
import { decodeUpdate, squaredNormQuantized } from "../../client/core/update/quantize.js";
import { FedproofError } from "../errors.js";
import { publishDeviceEvent } from "../round/device-events.js";
import type { ArtifactStore } from "../store/artifact-store.js";
import type { ContributionRecord, JobStore } from "../store/job-store.js";
import {
  bullPrefix,
  lockSettings,
  QUEUE_NAMES,
  type VerifyJobData,
  type VerifyJobResult,
} from "./queues.js";

/** A contribution that can never be accepted; retrying would give the same answer. */
export class ContributionRejectedError extends FedproofError {
  override name = "ContributionRejectedError";
  constructor(shortMessage: string) {
    super(shortMessage, { code: "INVALID_ARGUMENT" });
  }
}

export interface VerifyDependencies {
  store: JobStore;
  artifacts: ArtifactStore;
  publisher: Redis;
  logger: Logger;
}

/**
 * Checks one uploaded update and records it. Everything that can be checked without a
 * proof is checked here against the bytes actually received: length, value range and the
 * clip bound Σ q² ≤ ⌊(C/scale)²⌋. (The Groth16 proof check slots in before recording.)
 * A rejection is final: the device is told why, the round counts it, the model never sees it.
 */
export async function verifyContribution(
  dependencies: VerifyDependencies,
  contribution: ContributionRecord,
): Promise<VerifyJobResult> {
  const { store, artifacts } = dependencies;
  const { jobId, round, deviceId } = contribution;
  const base = { jobId, round, deviceId };
  try {
    const job = await store.getJob(jobId);
    const roundRecord = await store.getRound(jobId, round);
    if (contribution.paramCount !== job.paramCount) {
      throw new ContributionRejectedError(
        `update has ${contribution.paramCount} parameters, the model has ${job.paramCount}`,
      );
    }
    if (contribution.bits !== job.spec.quantization.bits) {
      throw new ContributionRejectedError(
        `update is quantised to ${contribution.bits} bits, the job uses ${job.spec.quantization.bits}`,
      );
    }
    let q: Int32Array;
    try {
      q = decodeUpdate(
        await artifacts.get(contribution.updateHash),
        contribution.bits,
        job.paramCount,
      );
    } catch (error) {
      if (error instanceof FedproofError && error.code === "INVALID_ARGUMENT") {
        throw new ContributionRejectedError(error.shortMessage);
      }
      throw error;
    }
    const bound = quantizedNormBound(
      roundRecord.clipNorm || job.spec.clipNorm,
      job.spec.quantization.scale,
    );
    const squared = squaredNormQuantized(q);
    if (squared > bound) {
      throw new ContributionRejectedError(
        `update norm exceeds the clip bound: Σq² = ${squared} > ${bound} (C = ${roundRecord.clipNorm || job.spec.clipNorm})`,
      );
    }
    const count = await store.recordContribution(contribution);
    if (count === -1) {
      const reason = `round ${round} closed before the update from ${deviceId} was verified`;
      await store.recordRejection(jobId, round, deviceId, reason, "late");
      await publishDeviceEvent(dependencies, jobId, deviceId, {
        result: { jobId, round, accepted: false, reason },
      });
      return { ...base, accepted: false, acceptedCount: -1, reason };
    }
    if (count === -2) {
      return { ...base, accepted: false, acceptedCount: -2, reason: "duplicate contribution" };
    }
    await publishDeviceEvent(dependencies, jobId, deviceId, {
      result: { jobId, round, accepted: true, reason: "" },
    });
    return { ...base, accepted: true, acceptedCount: count, reason: "" };
  } catch (error) {
    if (error instanceof ContributionRejectedError) {
      await store.recordRejection(jobId, round, deviceId, error.shortMessage, "rejected");
      await publishDeviceEvent(dependencies, jobId, deviceId, {
        result: { jobId, round, accepted: false, reason: error.shortMessage },
      });
      dependencies.logger.warn(
        { jobId, round, deviceId, reason: error.shortMessage },
        "update rejected",
      );
      throw new UnrecoverableError(error.shortMessage);
    }
    throw error;
  }
}

export interface StartVerifyWorkerParameters extends VerifyDependencies {
  connection: ConnectionOptions;
  prefix: string;
  concurrency?: number;
  lockDurationMs?: number;
  stalledIntervalMs?: number;
}

export function startVerifyWorker(
  parameters: StartVerifyWorkerParameters,
): Worker<VerifyJobData, VerifyJobResult> {
  return new Worker<VerifyJobData, VerifyJobResult>(
    QUEUE_NAMES.verify,
    (job: Job<VerifyJobData, VerifyJobResult>) =>
      verifyContribution(parameters, job.data.contribution),
    {
      connection: parameters.connection,
      prefix: bullPrefix(parameters.prefix),
      concurrency: parameters.concurrency ?? 4,
      ...lockSettings(parameters.lockDurationMs, parameters.stalledIntervalMs),
    },
  );
}
