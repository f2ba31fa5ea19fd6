import type { ServerWritableStream } from "@grpc/grpc-js";
import type { ModelChunk } from "../../proto/generated/fedproof/v1/ModelChunk.js";
import type { ModelHeader } from "../../proto/generated/fedproof/v1/ModelHeader.js";
import { CHUNK_BYTES } from "../../proto/load.js";
import { createStreamWrite } from "../../proto/stream-write.js";
import { NotFoundError } from "../errors.js";
import type { ArtifactStore } from "../store/artifact-store.js";
import type { JobStore } from "../store/job-store.js";
import type { ModelCache } from "./model-cache.js";

export interface StreamModelDependencies {
  store: JobStore;
  artifacts: ArtifactStore;
  /** Models held in memory (GetModel: every selected device fetches the round's model at once). */
  cache?: ModelCache;
}

/**
 * Streams a global model as a header then chunks of at most CHUNK_BYTES, honouring
 * back-pressure, so a 100 MB model never sits in one message or in memory twice. A cancelled
 * call rejects the pending write, which ends the loop and so closes the file.
 *
 * With a cache, a model small enough to keep is read from disk (and its hash checked) once,
 * not once per device. The check that the hash names a global model runs on every call.
 */
export async function streamModel(
  call: ServerWritableStream<unknown, ModelChunk>,
  dependencies: StreamModelDependencies,
  modelHash: string,
): Promise<void> {
  const { store, artifacts, cache } = dependencies;
  const write = createStreamWrite(call);
  // Updates share the blob store; only hashes registered as global models are served.
  const jobId = await store.jobOfModel(modelHash);
  if (!jobId) throw new NotFoundError(`model ${modelHash} not found`);
  const header = () => modelHeader(dependencies, jobId, modelHash);
  const cached = await cache?.get(jobId, modelHash, header);
  if (cached) {
    await write({ header: cached.header });
    for (const data of cached.chunks) await write({ data });
  } else {
    await write({ header: await header() });
    for await (const chunk of artifacts.readChunks(modelHash, CHUNK_BYTES)) {
      await write({ data: chunk });
    }
  }
  call.end();
}

async function modelHeader(
  dependencies: StreamModelDependencies,
  jobId: string,
  modelHash: string,
): Promise<ModelHeader> {
  const manifestJson = await dependencies.store.jobManifest(jobId);
  if (manifestJson === undefined) throw new NotFoundError(`job of model ${modelHash} not found`);
  const size = await dependencies.artifacts.size(modelHash);
  const manifest = JSON.parse(manifestJson) as { paramCount?: number };
  return {
    modelHash,
    sizeBytes: String(size),
    paramCount: String(manifest.paramCount ?? size / 4),
    chunkSize: CHUNK_BYTES,
    manifestJson,
  };
}
