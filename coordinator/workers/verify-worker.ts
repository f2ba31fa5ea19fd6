import { type ConnectionOptions, type Job, UnrecoverableError, Worker } from "bullmq";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { Groth16Proof } from "snarkjs";
import { ProofMissingError, ProofRejectedError } from "../../protocol/proofs/errors.js";
import { schemaBounds } from "../../protocol/proving/dataset-commitment.js";
import { decodeFieldElement, decodePublicKey } from "../../protocol/proving/proof-codec.js";
import {
  decodeUpdate,
  quantizedNormBound,
  squaredNormQuantized,
} from "../../protocol/update/quantize.js";
import { FedproofError } from "../errors.js";
import { type JobCircuits, loadJobCircuits } from "../jobs/job-circuits.js";
import {
  type SubmittedProof,
  verifyContribution as verifyContributionProofs,
} from "../proofs/verify-contribution.js";
import { publishDeviceEvent } from "../round/device-events.js";
import type { ArtifactStore } from "../store/artifact-store.js";
import type { ContributionRecord, JobRecord, JobStore, RoundRecord } from "../store/job-store.js";
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
 * Checks one uploaded update and records it. In a job with proofs, the proofs come first
 * (bound to this job, round, model and device; the commitment recomputed over the bytes
 * received; the data proof under the key registered at Join), and the verified commitment is
 * what gets recorded. Then, with or without proofs, the bytes themselves: length, value range
 * and the clip bound Σ q² ≤ ⌊(C/scale)²⌋.
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
    const bytes = await artifacts.get(contribution.updateHash);
    if (job.spec.proofs) {
      const commitment = await checkProofs(dependencies, job, roundRecord, contribution, bytes);
      contribution.commitment = commitment.toString(16).padStart(64, "0");
    }
    let q: Int32Array;
    try {
      q = decodeUpdate(bytes, contribution.bits, job.paramCount);
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

/**
 * The proof check of a job with proofs; returns the verified commitment. Any ProofRejectedError
 * is counted on the round and becomes a (final) ContributionRejectedError naming its kind.
 */
async function checkProofs(
  dependencies: VerifyDependencies,
  job: JobRecord,
  round: RoundRecord,
  contribution: ContributionRecord,
  uploadedBytes: Uint8Array,
): Promise<bigint> {
  const { store } = dependencies;
  const { jobId, deviceId } = contribution;
  const circuits: JobCircuits | undefined = await loadJobCircuits(store, jobId);
  // A job with proofs always has circuits stored before it starts: their absence is a store
  // problem worth retrying, not the device's fault.
  if (!circuits) throw new FedproofError(`job ${jobId} requires proofs but has no circuits stored`);
  try {
    const device = await store.findDevice(jobId, deviceId);
    if (!device) throw new ProofMissingError(`device ${deviceId} never enrolled in job ${jobId}`);
    if (contribution.proofs.length === 0) {
      throw new ProofMissingError("the job requires proofs and the update carries none");
    }
    const publicKey = decodePublicKey(Buffer.from(device.publicKey, "hex"));
    const salt = decodeFieldElement(Buffer.from(contribution.salt ?? "", "hex"), "salt");
    const bounds = schemaBounds({
      featureScale: circuits.featureScale,
      min: job.spec.schema.min,
      max: job.spec.schema.max,
    });
    const result = await verifyContributionProofs({
      circuits: {
        updateNorm: {
          id: circuits.updateNorm.id,
          verificationKey: circuits.updateNorm.verificationKey,
          parameters: circuits.updateNorm.parameters,
        },
        dataValidity: {
          id: circuits.dataValidity.id,
          verificationKey: circuits.dataValidity.verificationKey,
        },
      },
      proofs: contribution.proofs.map(parseSubmittedProof),
      expected: {
        jobId,
        round: contribution.round,
        globalModelHash: round.globalModelHash,
        deviceId,
        c2: quantizedNormBound(round.clipNorm || job.spec.clipNorm, job.spec.quantization.scale),
        data: {
          datasetCommitment: BigInt(`0x${device.datasetCommitment || "0"}`),
          publicKey: [publicKey.x, publicKey.y],
          samples: contribution.samples,
          minSamples: job.spec.minSamples,
          featureMin: bounds.featureMin,
          featureMax: bounds.featureMax,
          classes: job.spec.schema.classes,
        },
      },
      uploadedBytes,
      bits: contribution.bits,
      paramCount: contribution.paramCount,
      salt,
    });
    await countProofs(store, contribution, "proofsVerified");
    return result.commitment;
  } catch (error) {
    const rejected =
      error instanceof ProofRejectedError
        ? error
        : error instanceof FedproofError && error.code === "INVALID_ARGUMENT"
          ? new ProofMissingError(error.shortMessage, { cause: error })
          : undefined;
    if (!rejected) throw error;
    await countProofs(store, contribution, "proofsRejected");
    throw new ContributionRejectedError(
      `proof rejected (${rejected.name}): ${rejected.shortMessage}`,
    );
  }
}

function parseSubmittedProof(record: ContributionRecord["proofs"][number]): SubmittedProof {
  let proof: Groth16Proof;
  try {
    proof = JSON.parse(record.proofJson) as Groth16Proof;
  } catch (error) {
    throw new ProofMissingError(`the ${record.circuitId} proof is not JSON`, { cause: error });
  }
  return { circuitId: record.circuitId, proof, publicSignals: record.publicSignals };
}

async function countProofs(
  store: JobStore,
  contribution: ContributionRecord,
  field: "proofsVerified" | "proofsRejected",
): Promise<void> {
  await store.redis.hincrby(store.keys.round(contribution.jobId, contribution.round), field, 1);
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
