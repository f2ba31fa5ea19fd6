import type { ServerWritableStream } from "@grpc/grpc-js";
import type { ModelChunk } from "../../proto/generated/fedproof/v1/ModelChunk.js";
import { CHUNK_BYTES } from "../../proto/load.js";
import { NotFoundError } from "../errors.js";
import type { ArtifactStore } from "../store/artifact-store.js";
import type { JobStore } from "../store/job-store.js";

/**
 * Streams a global model as a header then chunks of at most CHUNK_BYTES, honouring
 * back-pressure, so a 100 MB model never sits in one message or in memory twice.
 */
export async function streamModel(
  call: ServerWritableStream<unknown, ModelChunk>,
  dependencies: { store: JobStore; artifacts: ArtifactStore },
  modelHash: string,
): Promise<void> {
  const { store, artifacts } = dependencies;
  // Updates share the blob store; only hashes registered as global models are served.
  const jobId = await store.redis.hget(store.keys.models, modelHash);
  if (!jobId) throw new NotFoundError(`model ${modelHash} not found`);
  const manifestJson = (await store.getJob(jobId)).manifest;
  const size = await artifacts.size(modelHash);
  const manifest = JSON.parse(manifestJson) as { paramCount?: number };
  await write(call, {
    header: {
      modelHash,
      sizeBytes: String(size),
      paramCount: String(manifest.paramCount ?? size / 4),
      chunkSize: CHUNK_BYTES,
      manifestJson,
    },
  });
  for await (const chunk of artifacts.readChunks(modelHash, CHUNK_BYTES)) {
    if (call.cancelled) return;
    await write(call, { data: chunk });
  }
  call.end();
}

function write(
  call: ServerWritableStream<unknown, ModelChunk>,
  message: ModelChunk,
): Promise<void> {
  return new Promise((resolve) => {
    if (call.write(message)) resolve();
    else call.once("drain", () => resolve());
  });
}
