import { randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, open, readdir, rm, stat } from "node:fs/promises";
import path from "node:path";
import {
  type ServerReadableStream,
  type ServiceError,
  type sendUnaryData,
  status,
} from "@grpc/grpc-js";
import { quote } from "../../common/errors.js";
import type { CoordinatorHandlers } from "../../proto/generated/fedproof/v1/Coordinator.js";
import type { SubmitUpdateResponse } from "../../proto/generated/fedproof/v1/SubmitUpdateResponse.js";
import type { UpdateChunk__Output } from "../../proto/generated/fedproof/v1/UpdateChunk.js";
import type { UpdateHeader__Output } from "../../proto/generated/fedproof/v1/UpdateHeader.js";
import type { UploadStatus } from "../../proto/generated/fedproof/v1/UploadStatus.js";
import { CHUNK_BYTES, loadFedproofProto } from "../../proto/load.js";
import { bytesPerValue } from "../../protocol/update/quantize.js";
import {
  InvalidArgumentError,
  InvalidTransitionError,
  NotFoundError,
  PermissionDeniedError,
} from "../errors.js";
import type { UploadRecord } from "../store/job-store.js";
import { requireSession } from "./session.js";
import { answerUnary, toServiceError } from "./status.js";
import type { SubmitUpdateHandlerParameters } from "./submit-update-handler.js";

export type ResumableUploadParameters = SubmitUpdateHandlerParameters & {
  /** The SubmitUpdate handler every committed upload goes through. */
  submitUpdate: CoordinatorHandlers["SubmitUpdate"];
};

type ResumableUploadHandlers = Pick<
  CoordinatorHandlers,
  "BeginUpload" | "PutUploadChunk" | "GetUpload" | "CommitUpload"
>;

/** How long an unfinished upload outlives its round's deadline (it can only be late then). */
const UPLOAD_GRACE_MS = 10 * 60_000;
const UPLOAD_ID = /^[A-Za-z0-9_-]{24}$/;

/**
 * SubmitUpdate for clients that cannot stream a request body (browsers over gRPC-web), as
 * resumable unary calls. The upload is staged: its header in Redis (JobStore), its bytes in a
 * file beside the artifact store, so any coordinator sharing both can take the next chunk.
 * Commit replays header and bytes into the SubmitUpdate handler itself, so every check, the
 * submission claim and the verify job are exactly those of the native stream.
 */
export function createResumableUploadHandlers(
  parameters: ResumableUploadParameters,
): ResumableUploadHandlers {
  const { store, artifacts, logger } = parameters;
  const method = loadFedproofProto().fedproof.v1.Coordinator.service.SubmitUpdate;
  const stagingDir = path.join(artifacts.root, "uploads");
  const stagingPath = (uploadId: string) => path.join(stagingDir, `${uploadId}.part`);
  const answer = <T>(work: () => Promise<T>, callback: sendUnaryData<T>) =>
    answerUnary(work, callback, logger);

  const statusOf = (upload: UploadRecord, offset = upload.offset): UploadStatus => ({
    uploadId: upload.uploadId,
    offset: String(offset),
    sizeBytes: String(upload.sizeBytes),
    expiresUnixMs: String(upload.expiresAtMs),
  });

  /** The caller's upload: its session must be the one that began it. */
  const requireUpload = async (sessionToken: string, uploadId: string) => {
    await requireSession(store, sessionToken);
    const upload = UPLOAD_ID.test(uploadId) ? await store.findUpload(uploadId) : undefined;
    if (!upload) {
      throw new NotFoundError(
        `upload ${quote(uploadId)} not found: it expired or was committed; begin a new one`,
      );
    }
    if (upload.sessionToken !== sessionToken) {
      throw new PermissionDeniedError(`upload ${uploadId} belongs to another session`);
    }
    return upload;
  };

  /** Runs the native SubmitUpdate handler on a header and the bytes staged for it. */
  const submit = (header: Buffer, bytes: AsyncIterable<Uint8Array> | Iterable<Uint8Array>) =>
    new Promise<SubmitUpdateResponse>((resolve, reject) => {
      async function* messages(): AsyncGenerator<UpdateChunk__Output> {
        yield method.requestDeserialize(header) as UpdateChunk__Output;
        for await (const data of bytes) yield { data: Buffer.from(data), kind: "data" };
      }
      // The handler reads only the call's messages; this is the part of a grpc-js
      // ServerReadableStream it sees.
      const call = { [Symbol.asyncIterator]: messages } as unknown as ServerReadableStream<
        UpdateChunk__Output,
        SubmitUpdateResponse
      >;
      parameters.submitUpdate(call, (error, value) =>
        error ? reject(error) : resolve(value as SubmitUpdateResponse),
      );
    });

  const discard = async (uploadId: string) => {
    await store.deleteUpload(uploadId);
    await rm(stagingPath(uploadId), { force: true });
  };

  return {
    BeginUpload(call, callback) {
      const header = call.request.header;
      const encoded = header && method.requestSerialize({ header });
      if (!header || !encoded) {
        callback(
          toServiceError(new InvalidArgumentError("BeginUpload needs the update's header"), logger),
        );
        return;
      }
      void (async () => {
        const { jobId, deviceId } = await requireSession(store, header.sessionToken);
        const job = await store.getJob(jobId);
        const round = await store.findRound(jobId, header.round);
        if (!round) throw new NotFoundError(`round ${header.round} of job ${jobId} not found`);
        if (!(await store.isSelected(jobId, header.round, deviceId))) {
          throw new PermissionDeniedError(
            `device ${deviceId} was not selected for round ${header.round}`,
          );
        }
        // A closed round is the submit path's to judge: it records the device as late.
        if (round.state !== "OPEN" || Date.now() > round.deadlineMs) return { late: true as const };
        checkShape(header, job.paramCount, job.spec.quantization.bits);
        const uploadId = randomBytes(18).toString("base64url");
        const upload: UploadRecord = {
          uploadId,
          sessionToken: header.sessionToken,
          jobId,
          deviceId,
          round: header.round,
          header: encoded.toString("base64"),
          sizeBytes: job.paramCount * bytesPerValue(job.spec.quantization.bits),
          offset: 0,
          expiresAtMs: Math.max(Date.now(), round.deadlineMs) + UPLOAD_GRACE_MS,
        };
        await mkdir(stagingDir, { recursive: true });
        await (await open(stagingPath(uploadId), "w")).close();
        await store.createUpload(upload);
        await sweepExpired(stagingDir, UPLOAD_GRACE_MS * 6);
        return { status: statusOf(upload) };
      })().then(
        async (outcome) => {
          if ("status" in outcome) return callback(null, outcome.status);
          await submit(encoded, []).then(
            () =>
              callback(
                toServiceError(new InvalidArgumentError("an empty update was accepted"), logger),
              ),
            (error: Partial<ServiceError>) => callback(error),
          );
        },
        (error: unknown) => callback(toServiceError(error, logger)),
      );
    },

    PutUploadChunk(call, callback) {
      answer(async () => {
        const { sessionToken, uploadId, data } = call.request;
        const upload = await requireUpload(sessionToken, uploadId);
        const offset = Number(call.request.offset);
        if (!Number.isSafeInteger(offset) || offset < 0) {
          throw new InvalidArgumentError(`chunk offset ${call.request.offset} is not valid`);
        }
        if (data.byteLength > CHUNK_BYTES) {
          throw new InvalidArgumentError(
            `chunk has ${data.byteLength} bytes, at most ${CHUNK_BYTES} are taken at once`,
          );
        }
        if (offset > upload.offset) {
          throw new UploadOffsetError(
            `chunk starts at byte ${offset}, the upload has ${upload.offset}: resume from GetUpload's offset`,
          );
        }
        const end = offset + data.byteLength;
        if (end > upload.sizeBytes) {
          throw new InvalidArgumentError(
            `chunk ends at byte ${end}, the update has ${upload.sizeBytes}: wrong shape`,
          );
        }
        // A chunk sent again after its answer was lost: the bytes are already here.
        if (end <= upload.offset) return statusOf(upload);
        // Positional writes make a retried chunk harmless; the offset moves only from the value
        // seen above, so of two racing copies one advances it and the other reads the result.
        const handle = await open(stagingPath(uploadId), "r+");
        try {
          await handle.write(data, 0, data.byteLength, offset);
          await handle.sync();
        } finally {
          await handle.close();
        }
        const now = await store.advanceUpload(uploadId, upload.offset, end);
        if (now < 0) throw new NotFoundError(`upload ${uploadId} expired while a chunk arrived`);
        return statusOf(upload, now);
      }, callback);
    },

    GetUpload(call, callback) {
      answer(
        async () => statusOf(await requireUpload(call.request.sessionToken, call.request.uploadId)),
        callback,
      );
    },

    CommitUpload(call, callback) {
      void (async () => {
        const upload = await requireUpload(call.request.sessionToken, call.request.uploadId);
        if (upload.offset !== upload.sizeBytes) {
          throw new UploadOffsetError(
            `upload ${upload.uploadId} has ${upload.offset} of ${upload.sizeBytes} bytes: send the rest first`,
          );
        }
        return upload;
      })().then(
        (upload) =>
          submit(
            Buffer.from(upload.header, "base64"),
            createReadStream(stagingPath(upload.uploadId), { highWaterMark: CHUNK_BYTES }),
          ).then(
            async (response) => {
              await discard(upload.uploadId);
              callback(null, response);
            },
            // The submit path's answer goes back unchanged (code, message, fedproof-error), and
            // is final unless the coordinator could not finish (UNAVAILABLE, INTERNAL): then
            // the device may commit the same upload again.
            async (error: Partial<ServiceError>) => {
              if (error.code !== status.UNAVAILABLE && error.code !== status.INTERNAL) {
                await discard(upload.uploadId);
              }
              callback(error);
            },
          ),
        (error: unknown) => callback(toServiceError(error, logger)),
      );
    },
  };
}

/** The chunk does not continue the upload where it stands; the client should ask GetUpload. */
export class UploadOffsetError extends InvalidTransitionError {
  override name = "UploadOffsetError";
}

function checkShape(header: UpdateHeader__Output, paramCount: number, bits: number): void {
  if (Number(header.paramCount) !== paramCount) {
    throw new InvalidArgumentError(
      `update has ${header.paramCount} parameters, the model has ${paramCount}: wrong shape`,
    );
  }
  if (header.bits !== bits) {
    throw new InvalidArgumentError(`update uses ${header.bits} bits, the job uses ${bits}`);
  }
}

/** Staged files of uploads nobody finished: their Redis records expired long ago. */
async function sweepExpired(dir: string, olderThanMs: number): Promise<void> {
  const cutoff = Date.now() - olderThanMs;
  for (const name of await readdir(dir)) {
    const file = path.join(dir, name);
    const info = await stat(file).catch(() => undefined);
    if (info && info.mtimeMs < cutoff) await rm(file, { force: true });
  }
}
