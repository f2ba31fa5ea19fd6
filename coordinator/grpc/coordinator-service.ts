import { randomBytes, randomUUID } from "node:crypto";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import type { ServerWritableStream } from "@grpc/grpc-js";
import type { Queue } from "bullmq";
import type { Logger } from "pino";
import type { ArtifactChunk } from "../../proto/generated/fedproof/v1/ArtifactChunk.js";
import type { CircuitInfo } from "../../proto/generated/fedproof/v1/CircuitInfo.js";
import type { CoordinatorHandlers } from "../../proto/generated/fedproof/v1/Coordinator.js";
import type { ProofSetup } from "../../proto/generated/fedproof/v1/ProofSetup.js";
import type { TaskEvent } from "../../proto/generated/fedproof/v1/TaskEvent.js";
import type { UpdateHeader__Output } from "../../proto/generated/fedproof/v1/UpdateHeader.js";
import { CHUNK_BYTES } from "../../proto/load.js";
import { verifyPoseidon } from "../../protocol/proving/eddsa-poseidon.js";
import {
  decodeFieldElement,
  decodePublicKey,
  decodeSignature,
} from "../../protocol/proving/proof-codec.js";
import { bytesPerValue } from "../../protocol/update/quantize.js";
import {
  AlreadyExistsError,
  InvalidArgumentError,
  JobNotRunningError,
  NotFoundError,
  PermissionDeniedError,
  RoundClosedError,
  UnauthenticatedError,
} from "../errors.js";
import {
  findArtifactPath,
  type JobCircuits,
  loadJobCircuits,
  type StoredCircuit,
} from "../jobs/job-circuits.js";
import type { RoundEngine } from "../round/round-engine.js";
import { isTerminalJobState } from "../round/round-states.js";
import type { ArtifactStore } from "../store/artifact-store.js";
import type { ContributionRecord, JobStore, SessionRecord } from "../store/job-store.js";
import type { VerifyJobData, VerifyJobResult } from "../workers/queues.js";
import { specToMessage } from "./convert.js";
import { streamModel } from "./model-stream.js";
import { failStream, toServiceError } from "./status.js";
import type { Subscriptions } from "./subscriptions.js";

export interface CoordinatorServiceParameters {
  store: JobStore;
  artifacts: ArtifactStore;
  engine: RoundEngine;
  verifyQueue: Queue<VerifyJobData, VerifyJobResult>;
  subscriptions: Subscriptions;
  logger: Logger;
}

const DEVICE_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const HASH = /^[0-9a-f]{64}$/;

/** Device-facing handlers: validate, hand over to the store, the queue or the engine, answer. */
export function createCoordinatorHandlers(
  parameters: CoordinatorServiceParameters,
): CoordinatorHandlers {
  const { store, artifacts, engine, logger } = parameters;

  async function session(token: string): Promise<SessionRecord> {
    if (!token) throw new UnauthenticatedError("missing session token: call Join first");
    const found = await store.findSession(token);
    if (!found) throw new UnauthenticatedError("unknown or expired session token: call Join again");
    return found;
  }

  return {
    GetProofSetup(call, callback) {
      void (async () => {
        const job = await store.findJob(call.request.jobId);
        if (!job)
          throw new NotFoundError(`job ${call.request.jobId || "(empty job id)"} not found`);
        if (!job.spec.proofs) return {};
        const circuits = await loadJobCircuits(store, job.jobId);
        if (!circuits)
          throw new JobNotRunningError(`job ${job.jobId} requires proofs but has no circuits`);
        return proofSetup(circuits, job.spec.minSamples);
      })().then(
        (response) => callback(null, response),
        (error: unknown) => callback(toServiceError(error, logger)),
      );
    },

    Join(call, callback) {
      void (async () => {
        const request = call.request;
        const job = await store.findJob(request.jobId);
        if (!job) throw new NotFoundError(`job ${request.jobId || "(empty job id)"} not found`);
        if (isTerminalJobState(job.state)) {
          throw new JobNotRunningError(`job ${job.jobId} is ${job.state}: ${job.reason}`);
        }
        const deviceId = request.deviceId || randomUUID();
        if (!DEVICE_ID.test(deviceId)) {
          throw new InvalidArgumentError(
            `device id "${deviceId}" must be 1–128 characters of [A-Za-z0-9._:-]`,
          );
        }
        if (request.samples < Math.max(1, job.spec.minSamples)) {
          throw new InvalidArgumentError(
            `device holds ${request.samples} samples, the job needs at least ${Math.max(1, job.spec.minSamples)}`,
          );
        }
        const circuits = job.spec.proofs ? await loadJobCircuits(store, job.jobId) : undefined;
        if (job.spec.proofs) {
          if (!circuits)
            throw new JobNotRunningError(`job ${job.jobId} requires proofs but has no circuits`);
          checkEnrolment(request);
        }
        const previous = await store.findDevice(job.jobId, deviceId);
        const publicKey = Buffer.from(request.publicKey).toString("hex");
        if (previous && previous.publicKey !== publicKey) {
          throw new PermissionDeniedError(
            `device id ${deviceId} is already registered with another key`,
          );
        }
        await store.registerDevice(job.jobId, {
          deviceId,
          publicKey,
          datasetCommitment: Buffer.from(request.datasetCommitment).toString("hex"),
          datasetSignature: Buffer.from(request.datasetSignature).toString("hex"),
          samples: request.samples,
          platform: request.platform,
          backend: request.backend,
          payoutAddress: parsePayoutAddress(request.payoutAddress),
          joinedAtMs: Date.now(),
        });
        const token = randomBytes(24).toString("base64url");
        await store.createSession(token, { jobId: job.jobId, deviceId });
        logger.info({ jobId: job.jobId, deviceId, samples: request.samples }, "device joined");
        return {
          sessionToken: token,
          deviceId,
          spec: specToMessage(job.spec),
          currentModelHash: job.currentModelHash,
          proofSetup: circuits && proofSetup(circuits, job.spec.minSamples),
        };
      })().then(
        (response) => callback(null, response),
        (error: unknown) => callback(toServiceError(error, logger)),
      );
    },

    Tasks(call) {
      let unsubscribe: (() => Promise<void>) | undefined;
      let current: SessionRecord | undefined;
      const cleanup = async () => {
        await unsubscribe?.();
        unsubscribe = undefined;
        if (current) await store.setOnline(current.jobId, current.deviceId, false);
      };
      call.on("cancelled", () => void cleanup());
      call.on("close", () => void cleanup());
      void (async () => {
        current = await session(call.request.sessionToken);
        const { jobId, deviceId } = current;
        unsubscribe = await parameters.subscriptions.subscribe(
          store.keys.deviceChannel(jobId, deviceId),
          (message) => {
            const event = JSON.parse(message) as TaskEvent;
            call.write(event);
            if (event.ended) void cleanup().then(() => call.end());
          },
        );
        await store.setOnline(jobId, deviceId, true);
        await engine.onDeviceOnline(jobId);
      })().catch(async (error: unknown) => {
        await cleanup();
        failStream(call, error, logger);
      });
    },

    GetModel(call) {
      void (async () => {
        if (!HASH.test(call.request.modelHash)) {
          throw new InvalidArgumentError(
            `model hash must be 64 hex characters, got "${call.request.modelHash}"`,
          );
        }
        await streamModel(call, { store, artifacts }, call.request.modelHash);
      })().catch((error: unknown) => failStream(call, error, logger));
    },

    GetArtifact(call) {
      void (async () => {
        const sha256 = call.request.sha256;
        if (!HASH.test(sha256)) {
          throw new InvalidArgumentError(
            `artifact hash must be 64 hex characters, got "${sha256}"`,
          );
        }
        const path = await findArtifactPath(store, sha256);
        if (!path) throw new NotFoundError(`circuit artifact ${sha256} not found`);
        await streamArtifact(call, path, sha256);
      })().catch((error: unknown) => failStream(call, error, logger));
    },

    SubmitUpdate(call, callback) {
      void (async () => {
        const iterator = call[Symbol.asyncIterator]() as AsyncIterator<{
          header?: UpdateHeader__Output | null;
          data?: Buffer;
        }>;
        const first = await iterator.next();
        const header = first.done ? undefined : first.value.header;
        if (!header)
          throw new InvalidArgumentError("the first message of SubmitUpdate must be the header");
        const { jobId, deviceId } = await session(header.sessionToken);
        if (header.jobId && header.jobId !== jobId) {
          throw new InvalidArgumentError(
            `header.jobId ${header.jobId} does not match the session's job ${jobId}`,
          );
        }
        const job = await store.getJob(jobId);
        const round = await store.findRound(jobId, header.round);
        if (!round) throw new NotFoundError(`round ${header.round} of job ${jobId} not found`);
        if (!(await store.isSelected(jobId, header.round, deviceId))) {
          throw new PermissionDeniedError(
            `device ${deviceId} was not selected for round ${header.round}`,
          );
        }
        if (round.state !== "OPEN" || Date.now() > round.deadlineMs) {
          await store.recordRejection(jobId, header.round, deviceId, "late: round closed", "late");
          throw new RoundClosedError(
            `round ${header.round} of job ${jobId} is closed (${round.state}, deadline ${new Date(round.deadlineMs).toISOString()}): update is late`,
          );
        }
        if (header.globalModelHash !== round.globalModelHash) {
          throw new InvalidArgumentError(
            `update was trained on model ${header.globalModelHash || "(none)"}, round ${header.round} uses ${round.globalModelHash}`,
          );
        }
        const paramCount = Number(header.paramCount);
        if (paramCount !== job.paramCount) {
          throw new InvalidArgumentError(
            `update has ${paramCount} parameters, the model has ${job.paramCount}: wrong shape`,
          );
        }
        if (header.bits !== job.spec.quantization.bits) {
          throw new InvalidArgumentError(
            `update uses ${header.bits} bits, the job uses ${job.spec.quantization.bits}`,
          );
        }
        if (header.samples < Math.max(1, job.spec.minSamples)) {
          throw new InvalidArgumentError(
            `update claims ${header.samples} samples, the job needs at least ${Math.max(1, job.spec.minSamples)}`,
          );
        }
        const expectedBytes = job.paramCount * bytesPerValue(job.spec.quantization.bits);
        if (!(await store.claimSubmission(jobId, header.round, deviceId))) {
          throw new AlreadyExistsError(
            `device ${deviceId} already submitted an update for round ${header.round}`,
          );
        }
        let stored: { hash: string; size: number };
        try {
          stored = await artifacts.putChunks(dataChunks(iterator, expectedBytes));
          if (stored.size !== expectedBytes) {
            throw new InvalidArgumentError(
              `update has ${stored.size} bytes, expected ${expectedBytes} (${job.paramCount} values × ${bytesPerValue(job.spec.quantization.bits)} bytes): wrong shape`,
            );
          }
        } catch (error) {
          await store.releaseSubmission(jobId, header.round, deviceId);
          throw error;
        }
        const contribution: ContributionRecord = {
          jobId,
          round: header.round,
          deviceId,
          updateHash: stored.hash,
          samples: header.samples,
          bits: header.bits,
          paramCount,
          commitment: Buffer.from(header.commitment).toString("hex"),
          salt: Buffer.from(header.salt ?? []).toString("hex"),
          proofs: header.proofs.map((proof) => ({
            circuitId: proof.circuitId,
            proofJson: proof.proofJson,
            publicSignals: proof.publicSignals,
          })),
          metrics: {
            trainLoss: header.metrics?.trainLoss ?? 0,
            trainSeconds: header.metrics?.trainSeconds ?? 0,
            holdoutAccuracy: header.metrics?.holdoutAccuracy ?? 0,
            holdoutLoss: header.metrics?.holdoutLoss ?? 0,
            holdoutSamples: header.metrics?.holdoutSamples ?? 0,
            updateNorm: header.metrics?.updateNorm ?? 0,
            proveSeconds: header.metrics?.proveSeconds ?? 0,
          },
          receivedAtMs: Date.now(),
        };
        const contributionId = `${jobId}-${header.round}-${deviceId}`;
        await parameters.verifyQueue.add(
          "verify",
          { contribution },
          {
            jobId: `verify-${contributionId}`,
            attempts: 3,
            backoff: { type: "exponential", delay: 500 },
            removeOnComplete: { age: 24 * 3600 },
            removeOnFail: { age: 7 * 24 * 3600 },
          },
        );
        return { contributionId, updateHash: stored.hash, status: "queued" };
      })().then(
        (response) => callback(null, response),
        (error: unknown) => callback(toServiceError(error, logger)),
      );
    },

    Leave(call, callback) {
      void (async () => {
        const found = await session(call.request.sessionToken);
        await store.setOnline(found.jobId, found.deviceId, false);
        await store.deleteSession(call.request.sessionToken);
        return {};
      })().then(
        (response) => callback(null, response),
        (error: unknown) => callback(toServiceError(error, logger)),
      );
    },
  };
}

/** The data chunks after the header, refusing to store more than the update can be. */
async function* dataChunks(
  iterator: AsyncIterator<{ header?: unknown; data?: Buffer }>,
  expectedBytes: number,
): AsyncGenerator<Uint8Array> {
  let total = 0;
  for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
    if (next.value.header)
      throw new InvalidArgumentError("SubmitUpdate carries one header, then data only");
    const data = next.value.data;
    if (!data || data.byteLength === 0) continue;
    total += data.byteLength;
    if (total > expectedBytes) {
      throw new InvalidArgumentError(
        `update is larger than the expected ${expectedBytes} bytes: wrong shape`,
      );
    }
    yield data;
  }
}

function parsePayoutAddress(value: string): string {
  if (!value) return "";
  if (!/^0x[0-9a-fA-F]{40}$/.test(value)) {
    throw new InvalidArgumentError(
      `payout address "${value}" is not a 0x-prefixed 20-byte hex address`,
    );
  }
  return value;
}

/**
 * A job with proofs takes only devices whose dataset commitment is signed by the key they
 * register: the data-validity proof later shows the same key signed the same commitment, so
 * a device cannot swap datasets between rounds.
 */
function checkEnrolment(request: {
  publicKey: Uint8Array;
  datasetCommitment: Uint8Array;
  datasetSignature: Uint8Array;
}): void {
  const publicKey = decodePublicKey(request.publicKey);
  const commitment = decodeFieldElement(request.datasetCommitment, "dataset commitment");
  const signature = decodeSignature(request.datasetSignature);
  if (!verifyPoseidon(publicKey, commitment, signature)) {
    throw new PermissionDeniedError(
      "the dataset signature does not verify under the public key the device registers",
    );
  }
}

function proofSetup(circuits: JobCircuits, minSamples: number): ProofSetup {
  return {
    updateNorm: circuitInfo(circuits.updateNorm),
    dataValidity: circuitInfo(circuits.dataValidity),
    featureScale: circuits.featureScale,
    minSamples,
  };
}

function circuitInfo(circuit: StoredCircuit): CircuitInfo {
  return {
    circuitId: circuit.id,
    kind: circuit.kind,
    wasmSha256: circuit.wasmSha256,
    zkeySha256: circuit.zkeySha256,
    wasmBytes: String(circuit.wasmBytes),
    zkeyBytes: String(circuit.zkeyBytes),
    vkeyHash: circuit.vkeyHash,
    parametersJson: JSON.stringify(circuit.parameters),
    insecure: circuit.insecure,
  };
}

/** A header, then the file in CHUNK_BYTES pieces, honouring back-pressure. */
async function streamArtifact(
  call: ServerWritableStream<unknown, ArtifactChunk>,
  path: string,
  sha256: string,
): Promise<void> {
  const write = (message: ArtifactChunk) =>
    new Promise<void>((resolve) => {
      if (call.write(message)) resolve();
      else call.once("drain", () => resolve());
    });
  await write({ header: { sha256, sizeBytes: String((await stat(path)).size) } });
  for await (const chunk of createReadStream(path, { highWaterMark: CHUNK_BYTES })) {
    if (call.cancelled) return;
    await write({ data: chunk as Buffer });
  }
  call.end();
}
