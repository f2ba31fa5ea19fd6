import { type ConnectionOptions, type Job, UnrecoverableError, Worker } from "bullmq";
import type { Logger } from "pino";
import type { Groth16Proof } from "snarkjs";
import { quote } from "../../common/errors.js";
import { failpoint } from "../../common/failpoints.js";
import { contributionExpectations } from "../../protocol/proofs/check-contribution.js";
import { jobAttesterRoot } from "../../protocol/proofs/data-attestation.js";
import {
  DatasetMismatchError,
  ProofMissingError,
  ProofRejectedError,
  UnregisteredKeyError,
} from "../../protocol/proofs/errors.js";
import { parseDataValiditySignals } from "../../protocol/proofs/public-signals.js";
import type { G1Hex } from "../../protocol/proving/kzg.js";
import { decodeFieldElement } from "../../protocol/proving/proof-codec.js";
import {
  decodeUpdate,
  quantizedNormBound,
  squaredNormQuantized,
} from "../../protocol/update/quantize.js";
import { FedproofError, NotFoundError } from "../errors.js";
import type { JobCircuits } from "../jobs/job-circuits.js";
import { loadJobSrs } from "../jobs/job-srs.js";
import {
  type SubmittedKzgChunk,
  type SubmittedProof,
  verifyContribution as verifyContributionProofs,
} from "../proofs/verify-contribution.js";
import { publishDeviceEvent } from "../round/device-events.js";
import type { ArtifactStore } from "../store/artifact-store.js";
import type {
  ContributionRecord,
  JobRecord,
  JobStore,
  RoundCounter,
  RoundRecord,
} from "../store/job-store.js";
import type { RedisClient } from "../store/redis.js";
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
  publisher: RedisClient;
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
    // One round trip for the three reads: every update of a round is verified at once.
    const context = await store.verificationContext(jobId, round, deviceId);
    const { job, round: roundRecord, device } = context;
    if (!job) throw new NotFoundError(`job ${quote(jobId)} not found`);
    if (!roundRecord) throw new NotFoundError(`round ${round} of job ${jobId} not found`);
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
    // The weight is the count fixed at Join, re-read from the enrolment whatever the queued
    // record says; with proofs, the DataValidity proof is checked against this same count.
    if (!device) {
      throw new ContributionRejectedError(`device ${deviceId} never enrolled in job ${jobId}`);
    }
    contribution.samples = device.samples;
    const bytes = await artifacts.get(contribution.updateHash);
    if (job.spec.proofs) {
      const verified = await checkProofs(dependencies, job, roundRecord, contribution, bytes);
      contribution.commitment = verified.commitment.toString(16).padStart(64, "0");
      // What was checked, normalised (lowercase): the bundle publishes these two.
      contribution.kzgCommitments = verified.kzgCommitments;
      contribution.kzgOpenings = verified.kzgOpenings;
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
    await failpoint("verify-before-record");
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
 * The per-chunk KZG fields of the upload, decoded: points as lowercase G1Hex, blinding as
 * field elements. Anything malformed is the device's fault (ProofMissingError, final).
 */
function submittedKzg(contribution: ContributionRecord): SubmittedKzgChunk[] {
  const commitments = contribution.kzgCommitments ?? [];
  const openings = contribution.kzgOpenings ?? [];
  const blindings = contribution.kzgBlindings ?? [];
  if (openings.length !== commitments.length || blindings.length !== commitments.length) {
    throw new ProofMissingError(
      `the upload carries ${commitments.length} KZG commitments, ${openings.length} openings and ${blindings.length} blindings: one of each per chunk`,
    );
  }
  const point = (hex: string, what: string): G1Hex => {
    if (!/^0x[0-9a-fA-F]{128}$/.test(hex)) {
      throw new ProofMissingError(`${what} is not a 64-byte G1 point (x ‖ y)`);
    }
    return hex.toLowerCase() as G1Hex;
  };
  return commitments.map((commitment, j) => ({
    commitment: point(commitment, `the KZG commitment of chunk ${j}`),
    opening: point(openings[j]!, `the KZG opening of chunk ${j}`),
    blinding: [
      decodeFieldElement(Buffer.from(blindings[j]![0], "hex"), `blinding 0 of chunk ${j}`),
      decodeFieldElement(Buffer.from(blindings[j]![1], "hex"), `blinding 1 of chunk ${j}`),
    ] as const,
  }));
}

/**
 * The proof check of a job with proofs; returns the verified commitment and the chunks' KZG
 * commitments and openings. Any ProofRejectedError is counted on the round and becomes a
 * (final) ContributionRejectedError naming its kind.
 */
async function checkProofs(
  dependencies: VerifyDependencies,
  job: JobRecord,
  round: RoundRecord,
  contribution: ContributionRecord,
  uploadedBytes: Uint8Array,
): Promise<{ commitment: bigint; kzgCommitments: G1Hex[]; kzgOpenings: G1Hex[] }> {
  const { store } = dependencies;
  const { jobId, deviceId } = contribution;
  const circuits: JobCircuits | undefined = await store.loadJobCircuits(jobId);
  // A job with proofs always has circuits stored before it starts: their absence is a store
  // problem worth retrying, not the device's fault.
  if (!circuits) throw new FedproofError(`job ${jobId} requires proofs but has no circuits stored`);
  if (!circuits.srs) {
    throw new FedproofError(`job ${jobId} requires proofs but has no KZG SRS stored`);
  }
  const srs = await loadJobSrs(dependencies.artifacts, circuits.srs);
  try {
    const device = await store.findDevice(jobId, deviceId);
    if (!device) throw new ProofMissingError(`device ${deviceId} never enrolled in job ${jobId}`);
    if (contribution.proofs.length === 0) {
      throw new ProofMissingError("the job requires proofs and the update carries none");
    }
    const salt = decodeFieldElement(Buffer.from(contribution.salt ?? "", "hex"), "salt");
    // Once a verified data proof recorded the device's nullifier, every later one must show it.
    const recorded = await store.deviceNullifier(jobId, deviceId);
    // The same expectations `fedproof verify` derives from the bundle (check-contribution.ts).
    const derived = contributionExpectations({
      spec: job.spec,
      roundClipNorm: round.clipNorm,
      featureBits: circuits.dataValidity.parameters.featureBits,
      enrolment: { publicKey: device.publicKey, datasetCommitment: device.datasetCommitment },
      context: {
        jobId,
        round: contribution.round,
        globalModelHash: round.globalModelHash,
        deviceId,
        // The seed revealed with the round's task: a context made without it (computed before
        // the task, to pick the challenged records) matches nothing.
        roundSeed: round.challengeSeed,
      },
      samples: contribution.samples,
      // The root the anchored spec pins: a job with attesters refuses a self-attested proof.
      attesterRoot: jobAttesterRoot(job.spec),
      ...(recorded === undefined ? {} : { nullifier: BigInt(recorded) }),
    });
    const [unusable] = derived.problems;
    if (unusable) throw new UnregisteredKeyError(unusable.message);
    const result = await verifyContributionProofs({
      circuits: {
        updateNorm: {
          id: circuits.updateNorm.id,
          verificationKey: circuits.updateNorm.verificationKey,
          parameters: circuits.updateNorm.parameters,
          srs,
        },
        dataValidity: {
          id: circuits.dataValidity.id,
          verificationKey: circuits.dataValidity.verificationKey,
        },
      },
      proofs: contribution.proofs.map(parseSubmittedProof),
      expected: derived.expected,
      uploadedBytes,
      bits: contribution.bits,
      paramCount: contribution.paramCount,
      salt,
      kzg: submittedKzg(contribution),
    });
    await recordNullifier(store, contribution, circuits.dataValidity.id);
    await countProofs(store, contribution, "proofsVerified");
    return {
      commitment: result.commitment,
      kzgCommitments: result.kzgCommitments,
      kzgOpenings: result.kzgOpenings,
    };
  } catch (error) {
    const rejected =
      error instanceof ProofRejectedError
        ? error
        : error instanceof FedproofError && error.code === "INVALID_ARGUMENT"
          ? new ProofMissingError(error.shortMessage, { cause: error })
          : undefined;
    if (!rejected) throw error;
    await countProofs(store, contribution, "proofsRejected");
    const reason = `proof rejected (${rejected.name}): ${rejected.shortMessage}`;
    if (rejected.proof === "data-validity") {
      // A data proof that was sent and fails is an attempt to pass off data the check refuses
      // (a ground context, a forged signal, a proof of nothing): once is enough to know. Left in,
      // the device could try again every round until the spot check happened to miss.
      await store.excludeDevice(jobId, deviceId, {
        round: contribution.round,
        reason,
        excludedAtMs: Date.now(),
      });
      throw new ContributionRejectedError(`${reason}; device ${deviceId} is excluded from the job`);
    }
    throw new ContributionRejectedError(reason);
  }
}

/**
 * One dataset enrols one device per job: the nullifier Poseidon(jobScope, root, count) of a
 * verified data proof is bound to its device on first sight, atomically, so two devices
 * proving the same (attested) dataset cannot both be counted, however their uploads race.
 * Recorded only after the pairing check: a forged proof cannot claim another's nullifier.
 */
async function recordNullifier(
  store: JobStore,
  contribution: ContributionRecord,
  dataValidityId: string,
): Promise<void> {
  const { jobId, deviceId } = contribution;
  const proof = contribution.proofs.find((p) => p.circuitId === dataValidityId);
  if (!proof) return;
  const { nullifier, attesterRoot } = parseDataValiditySignals(proof.publicSignals);
  const recorded = await store.recordNullifier(jobId, deviceId, nullifier.toString());
  const dataset = attesterRoot === 0n ? "the dataset" : "the attested dataset";
  if (recorded.status === "taken") {
    throw new DatasetMismatchError(
      `${dataset} (nullifier ${abbreviate(nullifier)}) already enrolled device ${recorded.deviceId} in this job: one dataset enrols one device per job`,
      { proof: "data-validity" },
    );
  }
  if (recorded.status === "changed") {
    throw new DatasetMismatchError(
      `the data-validity proof shows nullifier ${abbreviate(nullifier)}, device ${deviceId}'s earlier proofs showed ${abbreviate(BigInt(recorded.nullifier))}: one device proves one dataset per job`,
      { proof: "data-validity" },
    );
  }
}

function abbreviate(value: bigint): string {
  const text = value.toString();
  return text.length > 16 ? `${text.slice(0, 8)}…${text.slice(-6)}` : text;
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
  field: RoundCounter,
): Promise<void> {
  await store.incrementRoundCounter(contribution.jobId, contribution.round, field);
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
  const worker = new Worker<VerifyJobData, VerifyJobResult>(
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
  worker.on("failed", (job, error) => {
    // A rejection (UnrecoverableError) was already told and counted; a failure with
    // attempts left will be tried again.
    if (!job || error.name === "UnrecoverableError") return;
    if (job.attemptsMade < (job.opts.attempts ?? 1)) return;
    void giveUpVerification(parameters, job, error).catch((giveUpError: unknown) =>
      parameters.logger.warn(
        { job: job.id, err: giveUpError },
        "could not tell the device its verification gave up",
      ),
    );
  });
  return worker;
}

/**
 * Every attempt at verifying an update failed for reasons that were not the update's (Redis,
 * the artifact store, a worker bug): the device is told, and its upload slot and the queue's
 * job id are freed, so the same device can upload for the round again instead of being
 * locked out by an update nobody judged.
 */
async function giveUpVerification(
  dependencies: VerifyDependencies,
  job: Job<VerifyJobData, VerifyJobResult>,
  error: Error,
): Promise<void> {
  const { jobId, round, deviceId } = job.data.contribution;
  const reason = `verification gave up after ${job.attemptsMade} attempts (${error.message}): the update was not judged, upload it again`;
  dependencies.logger.warn({ jobId, round, deviceId, job: job.id, err: error.message }, reason);
  await dependencies.store.releaseSubmission(jobId, round, deviceId);
  await job.remove();
  await publishDeviceEvent(dependencies, jobId, deviceId, {
    result: { jobId, round, accepted: false, reason },
  });
}
