import { type GrpcWebClient, GrpcWebError } from "./grpc-web-client.js";

const SERVICE = "fedproof.v1.Coordinator";

export interface UploadStatusMessage {
  uploadId: string;
  offset: string;
  sizeBytes: string;
  expiresUnixMs: string;
}

export interface SubmitUpdateAnswer {
  contributionId: string;
  updateHash: string;
  status: string;
}

export interface UploadUpdateParameters {
  client: GrpcWebClient;
  /** An UpdateHeader as the proto defines it (sessionToken, jobId, round, …). */
  header: { sessionToken: string } & Record<string, unknown>;
  bytes: Uint8Array;
  /** Continue this upload (e.g. after a reload) instead of beginning a new one. */
  uploadId?: string;
  chunkBytes?: number;
  /** Attempts per call after a dropped connection (default 6, backing off from 250 ms). */
  attempts?: number;
  onProgress?: (progress: { uploadId: string; offset: number; size: number }) => void;
  /**
   * Awaited once the upload id is known, before any chunk is sent: where a caller persists it
   * (with the bytes) to resume after a reload.
   */
  onBegin?: (upload: { uploadId: string; offset: number }) => Promise<void> | void;
  signal?: AbortSignal;
}

/**
 * Uploads an update with the resumable calls: BeginUpload, PutUploadChunk until every byte
 * is in, CommitUpload. A dropped connection (or a chunk whose answer was lost) costs only
 * that chunk: the client asks GetUpload where the upload stands and goes on from there.
 */
export async function uploadUpdate(
  parameters: UploadUpdateParameters,
): Promise<SubmitUpdateAnswer> {
  const { client, header, bytes } = parameters;
  const sessionToken = header.sessionToken;
  const chunkBytes = parameters.chunkBytes ?? 256 * 1024;
  const attempts = parameters.attempts ?? 6;
  const call = <T>(method: string, request: object) =>
    client.unary<T>(SERVICE, method, request, { signal: parameters.signal });

  let status = parameters.uploadId
    ? await retrying(attempts, () =>
        call<UploadStatusMessage>("GetUpload", { sessionToken, uploadId: parameters.uploadId }),
      )
    : await retrying(attempts, () => call<UploadStatusMessage>("BeginUpload", { header }));
  const { uploadId } = status;
  const size = Number(status.sizeBytes);
  if (size !== bytes.byteLength) {
    throw new GrpcWebError(
      3,
      `the coordinator expects ${size} bytes, the update has ${bytes.byteLength}`,
    );
  }
  let offset = Number(status.offset);
  await parameters.onBegin?.({ uploadId, offset });
  parameters.onProgress?.({ uploadId, offset, size });
  let failures = 0;
  while (offset < size) {
    try {
      status = await call<UploadStatusMessage>("PutUploadChunk", {
        sessionToken,
        uploadId,
        offset: String(offset),
        data: bytes.subarray(offset, Math.min(size, offset + chunkBytes)),
      });
      offset = Number(status.offset);
      failures = 0;
    } catch (error) {
      const resumable =
        error instanceof GrpcWebError &&
        (error.code === 14 || error.fedproofError === "UploadOffsetError");
      if (!resumable || ++failures >= attempts) throw error;
      await sleep(backoff(failures), parameters.signal);
      status = await retrying(attempts, () =>
        call<UploadStatusMessage>("GetUpload", { sessionToken, uploadId }),
      );
      offset = Number(status.offset);
    }
    parameters.onProgress?.({ uploadId, offset, size });
  }
  return retrying(attempts, () =>
    call<SubmitUpdateAnswer>("CommitUpload", { sessionToken, uploadId }),
  );
}

/** Retries a call only while the coordinator is unreachable (UNAVAILABLE). */
async function retrying<T>(attempts: number, work: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (!(error instanceof GrpcWebError) || error.code !== 14 || attempt >= attempts) throw error;
      await sleep(backoff(attempt));
    }
  }
}

function backoff(attempt: number): number {
  return Math.min(4_000, 250 * 2 ** (attempt - 1));
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(new GrpcWebError(1, "cancelled by the caller"));
    });
  });
}
