import { randomBytes, randomUUID } from "node:crypto";
import type { sendUnaryData } from "@grpc/grpc-js";
import type { Queue } from "bullmq";
import type { Logger } from "pino";
import { quote } from "../../common/errors.js";
import type { CoordinatorHandlers } from "../../proto/generated/fedproof/v1/Coordinator.js";
import { verifyJoin } from "../../protocol/identity/join-signature.js";
import { verifyPoseidon } from "../../protocol/proving/eddsa-poseidon.js";
import { decodeFieldElement, decodeSignature } from "../../protocol/proving/proof-codec.js";
import {
  AlreadyExistsError,
  EnrolmentFrozenError,
  InvalidArgumentError,
  JobNotRunningError,
  JoinRateLimitedError,
  NotFoundError,
  PermissionDeniedError,
  UnauthenticatedError,
} from "../errors.js";
import { specToMessage } from "../jobs/job-messages.js";
import type { RoundEngine } from "../round/round-engine.js";
import { isTerminalJobState } from "../round/round-states.js";
import type { ArtifactStore } from "../store/artifact-store.js";
import type { DeviceRecord, JobStore } from "../store/job-store.js";
import type { VerifyJobData, VerifyJobResult } from "../workers/queues.js";
import { streamArtifact } from "./artifact-stream.js";
import { refuseExcludedDevice } from "./exclusion.js";
import {
  type ParsedJoinRequest,
  parseDeviceId,
  parseJobId,
  parseJoinRequest,
} from "./join-request.js";
import { ModelCache } from "./model-cache.js";
import { streamModel } from "./model-stream.js";
import { proofSetup } from "./proof-setup.js";
import { createResumableUploadHandlers } from "./resumable-upload.js";
import { requireSession } from "./session.js";
import { answerUnary, failStream } from "./status.js";
import { createSubmitUpdateHandler } from "./submit-update-handler.js";
import type { Subscriptions } from "./subscriptions.js";
import { createTasksHandler } from "./tasks-handler.js";

export interface CoordinatorServiceParameters {
  store: JobStore;
  artifacts: ArtifactStore;
  engine: RoundEngine;
  verifyQueue: Queue<VerifyJobData, VerifyJobResult>;
  subscriptions: Subscriptions;
  /** Aborted when the coordinator stops: open task streams end with UNAVAILABLE. */
  shutdown?: AbortSignal;
  /** How long a session lives unused (default 1 h); Tasks streams and uploads renew it. */
  sessionTtlMs?: number;
  /** Joins per job and second before RESOURCE_EXHAUSTED (default 50; 0: no limit). */
  joinsPerSecond?: number;
  /** How long a GetJoinChallenge nonce can be used (default 60 s). */
  joinChallengeTtlMs?: number;
  logger: Logger;
}

export const DEFAULT_SESSION_TTL_MS = 3_600_000;
export const DEFAULT_JOINS_PER_SECOND = 50;
const DEFAULT_JOIN_CHALLENGE_TTL_MS = 60_000;
/**
 * A device may fetch a challenge, fail (a dropped connection, a lost race) and fetch another:
 * challenges get a few times the Join budget, still bounded, since each one is stored.
 */
const CHALLENGES_PER_JOIN = 4;
const HASH = /^[0-9a-f]{64}$/;

/** Device-facing handlers: validate, hand over to the store, the queue or the engine, answer. */
export function createCoordinatorHandlers(
  parameters: CoordinatorServiceParameters,
): CoordinatorHandlers {
  const { store, artifacts, logger } = parameters;
  const answer = <T>(work: () => Promise<T>, callback: sendUnaryData<T>) =>
    answerUnary(work, callback, logger);
  const sessionTtlMs = parameters.sessionTtlMs ?? DEFAULT_SESSION_TTL_MS;
  const joinsPerSecond = parameters.joinsPerSecond ?? DEFAULT_JOINS_PER_SECOND;
  const challengeTtlMs = parameters.joinChallengeTtlMs ?? DEFAULT_JOIN_CHALLENGE_TTL_MS;

  /** A job that exists and still takes devices. */
  const joinableJob = async (jobId: string) => {
    const job = await store.findJob(jobId);
    if (!job) throw new NotFoundError(`job ${quote(jobId)} not found`);
    if (isTerminalJobState(job.state)) {
      throw new JobNotRunningError(`job ${job.jobId} is ${job.state}: ${job.reason}`);
    }
    return job;
  };

  // Counted per existing job before any signature is checked, so a flood of Joins costs the
  // coordinator one Redis round trip each and cannot starve the job's honest devices for long.
  const limitJoins = async (jobId: string, kind: "join" | "challenge") => {
    if (joinsPerSecond <= 0) return;
    const limit = kind === "join" ? joinsPerSecond : joinsPerSecond * CHALLENGES_PER_JOIN;
    if ((await store.countJoinAttempt(jobId, kind)) > limit) {
      throw new JoinRateLimitedError(
        `join rate limit for job ${jobId}: more than ${limit} ${kind === "join" ? "Joins" : "join challenges"} in one second; retry shortly`,
      );
    }
  };

  const submitUpdate = createSubmitUpdateHandler(parameters);
  const models = new ModelCache({ artifacts });

  return {
    GetProofSetup(call, callback) {
      answer(async () => {
        const job = await store.findJob(call.request.jobId);
        if (!job) throw new NotFoundError(`job ${quote(call.request.jobId)} not found`);
        if (!job.spec.proofs) return {};
        const circuits = await store.loadJobCircuits(job.jobId);
        if (!circuits)
          throw new JobNotRunningError(`job ${job.jobId} requires proofs but has no circuits`);
        return proofSetup(circuits, job.spec.minSamples);
      }, callback);
    },

    GetJoinChallenge(call, callback) {
      answer(async () => {
        const jobId = parseJobId(call.request.jobId);
        const deviceId = call.request.deviceId
          ? parseDeviceId(call.request.deviceId)
          : randomUUID();
        await joinableJob(jobId);
        await limitJoins(jobId, "challenge");
        // 31 bytes: the nonce is one field element of the signed join message.
        const nonce = randomBytes(31).toString("hex");
        await store.createJoinNonce(jobId, deviceId, nonce, challengeTtlMs);
        return { nonce, deviceId, expiresUnixMs: String(Date.now() + challengeTtlMs) };
      }, callback);
    },

    Join(call, callback) {
      answer(async () => {
        const request = parseJoinRequest(call.request);
        const job = await joinableJob(request.jobId);
        await limitJoins(job.jobId, "join");
        const { deviceId } = request;
        await refuseExcludedDevice(store, job.jobId, deviceId);
        if (request.samples < Math.max(1, job.spec.minSamples)) {
          throw new InvalidArgumentError(
            `device holds ${request.samples} samples, the job needs at least ${Math.max(1, job.spec.minSamples)}`,
          );
        }
        // The enrolled count is both the aggregation weight and the credit: refusing counts
        // above the cap keeps the two equal, so no device earns credit the model ignores.
        const cap = job.spec.maxSamplesPerDevice;
        if (cap !== undefined && request.samples > cap) {
          throw new InvalidArgumentError(
            `device declares ${request.samples} samples, above the job's maxSamplesPerDevice ${cap}: enrol with at most ${cap} records`,
          );
        }
        const circuits = job.spec.proofs ? await store.loadJobCircuits(job.jobId) : undefined;
        if (job.spec.proofs) {
          if (!circuits)
            throw new JobNotRunningError(`job ${job.jobId} requires proofs but has no circuits`);
          checkEnrolment(request);
        }
        // The id's key once bound, the request's own on first Join: either way the Join must
        // be signed by the key the device id ends up bound to.
        const bound = await store.findDevice(job.jobId, deviceId);
        requireSameKey(bound, request);
        const signed = verifyJoin(
          {
            jobId: job.jobId,
            deviceId,
            nonce: request.nonce,
            publicKey: request.publicKey,
            payoutAddress: request.payoutAddress,
            datasetCommitment: request.datasetCommitmentField,
            samples: request.samples,
          },
          request.joinSignature,
        );
        if (!signed) {
          throw new PermissionDeniedError(
            `the join signature does not verify under the key of device ${deviceId}: sign joinMessage(job, device id, nonce, key, payout address, dataset commitment, samples)`,
          );
        }
        // Consumed only after the signature verified, atomically: a captured Join replayed
        // finds its nonce gone, and two copies racing find it once.
        if (!(await store.consumeJoinNonce(job.jobId, request.nonce, deviceId))) {
          throw new UnauthenticatedError(
            `join nonce ${request.nonce.slice(0, 12)}… of device ${deviceId} is unknown, expired or already used: call GetJoinChallenge again`,
          );
        }
        // One dataset, one device: a dataset's commitment is public and the same for every
        // copy, so a second device enrolling an (attested) dataset another device enrolled is
        // refused here, before anything about it is stored. Later Joins keep their commitment
        // (requireFrozen), so only a first Join claims one.
        if (job.spec.proofs && !bound) {
          const commitment = Buffer.from(request.datasetCommitment).toString("hex");
          const owner = await store.claimDataset(job.jobId, commitment, deviceId);
          if (owner !== deviceId) {
            throw new AlreadyExistsError(
              `dataset commitment ${commitment.slice(0, 12)}… is already enrolled by device ${owner} in job ${job.jobId}: one dataset enrols one device per job`,
            );
          }
        }
        const record: DeviceRecord = {
          deviceId,
          publicKey: request.publicKeyHex,
          datasetCommitment: Buffer.from(request.datasetCommitment).toString("hex"),
          datasetSignature: job.spec.proofs
            ? Buffer.from(request.datasetSignature).toString("hex")
            : "",
          samples: request.samples,
          platform: request.platform,
          backend: request.backend,
          payoutAddress: request.payoutAddress,
          joinedAtMs: Date.now(),
        };
        const enrolled = bound ?? (await store.enrolDevice(job.jobId, record));
        if (enrolled) {
          // A re-Join (or the loser of two racing first Joins): same key, nothing frozen moved.
          requireSameKey(enrolled, request);
          requireFrozen(enrolled, record);
          await store.registerDevice(job.jobId, {
            ...enrolled,
            platform: record.platform,
            backend: record.backend,
          });
        }
        const { token, revoked } = await store.openSession({
          jobId: job.jobId,
          deviceId,
          ttlMs: sessionTtlMs,
        });
        logger.info(
          { jobId: job.jobId, deviceId, samples: request.samples, rejoin: !!enrolled, revoked },
          "device joined",
        );
        return {
          sessionToken: token,
          deviceId,
          spec: specToMessage(job.spec),
          currentModelHash: job.currentModelHash,
          proofSetup: circuits && proofSetup(circuits, job.spec.minSamples),
        };
      }, callback);
    },

    Tasks: createTasksHandler(parameters),

    GetModel(call) {
      void (async () => {
        if (!HASH.test(call.request.modelHash)) {
          throw new InvalidArgumentError(
            `model hash must be 64 hex characters, got ${quote(call.request.modelHash)}`,
          );
        }
        await streamModel(call, { store, artifacts, cache: models }, call.request.modelHash);
      })().catch((error: unknown) => failStream(call, error, logger));
    },

    GetArtifact(call) {
      void (async () => {
        const sha256 = call.request.sha256;
        if (!HASH.test(sha256)) {
          throw new InvalidArgumentError(
            `artifact hash must be 64 hex characters, got ${quote(sha256)}`,
          );
        }
        const path = await store.artifactPath(sha256);
        if (!path) throw new NotFoundError(`circuit artifact ${sha256} not found`);
        await streamArtifact(call, path, sha256);
      })().catch((error: unknown) => failStream(call, error, logger));
    },

    SubmitUpdate: submitUpdate,

    // The same submit path for clients that cannot stream a request (browsers).
    ...createResumableUploadHandlers({ ...parameters, submitUpdate }),

    Leave(call, callback) {
      answer(async () => {
        const found = await requireSession(store, call.request.sessionToken);
        await store.deleteSession(call.request.sessionToken, found);
        await store.markDeviceOffline(found.jobId, found.deviceId);
        return {};
      }, callback);
    },
  };
}

function requireSameKey(bound: DeviceRecord | undefined, request: ParsedJoinRequest): void {
  if (bound && bound.publicKey !== request.publicKeyHex) {
    throw new PermissionDeniedError(
      `device id ${request.deviceId} is bound to another key: only the key it first joined with can join under it`,
    );
  }
}

/**
 * What the first Join fixed stays fixed. The dataset commitment and the sample count: a device
 * that learnt the round's challenge must not swap its data or its weight for it. The payout
 * address too, although the join signature covers it: stored leaves and bundles read it from
 * the device record for every round, so changing it would rewrite the credits of rounds
 * already anchored. A device that wants another address joins under a new id.
 */
function requireFrozen(enrolled: DeviceRecord, record: DeviceRecord): void {
  const frozen: [string, string | number, string | number][] = [
    ["dataset commitment", enrolled.datasetCommitment, record.datasetCommitment],
    ["sample count", enrolled.samples, record.samples],
    ["payout address", enrolled.payoutAddress.toLowerCase(), record.payoutAddress.toLowerCase()],
  ];
  for (const [what, was, now] of frozen) {
    if (was === now) continue;
    const show = (value: string | number) =>
      typeof value === "number" ? String(value) : value === "" ? "none" : quote(value, 66);
    throw new EnrolmentFrozenError(
      `device ${enrolled.deviceId} enrolled with ${what} ${show(was)}; a re-Join cannot change it to ${show(now)} (frozen at first Join)`,
    );
  }
}

/**
 * A job with proofs takes only devices whose dataset commitment is signed by the key they
 * register: the data-validity proof later shows the same key signed the same commitment, so
 * a device cannot swap datasets between rounds.
 */
function checkEnrolment(request: ParsedJoinRequest): void {
  const publicKey = request.publicKey;
  const commitment = decodeFieldElement(request.datasetCommitment, "dataset commitment");
  const signature = decodeSignature(request.datasetSignature);
  if (!verifyPoseidon(publicKey, commitment, signature)) {
    throw new PermissionDeniedError(
      "the dataset signature does not verify under the public key the device registers",
    );
  }
}
