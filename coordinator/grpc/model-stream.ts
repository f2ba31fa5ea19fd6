import type { ServerWritableStream } from "@grpc/grpc-js";
import type { ModelChunk } from "../../proto/generated/fedproof/v1/ModelChunk.js";
import { CHUNK_BYTES } from "../../proto/load.js";
import { createStreamWrite } from "../../proto/stream-write.js";
import { NotFoundError } from "../errors.js";
import type { ArtifactStore } from "../store/artifact-store.js";
import type { JobStore } from "../store/job-store.js";

/**
 * Streams a global model as a header then chunks of at most CHUNK_BYTES, honouring
 * back-pressure, so a 100 MB model never sits in one message or in memory twice. A cancelled
 * call rejects the pending write, which ends the loop and so closes the file.
 */
export async function streamModel(
  call: ServerWritableStream<unknown, ModelChunk>,
  dependencies: { store: JobStore; artifacts: ArtifactStore },
  modelHash: string,
): Promise<void> {
  const { store, artifacts } = dependencies;
  const write = createStreamWrite(call);
  // Updates share the blob store; only hashes registered as global models are served.
  const jobId = await store.jobOfModel(modelHash);
  if (!jobId) throw new NotFoundError(`model ${modelHash} not found`);
  const manifestJson = (await store.getJob(jobId)).manifest;
  const size = await artifacts.size(modelHash);
  const manifest = JSON.parse(manifestJson) as { paramCount?: number };
  await write({
    header: {
      modelHash,
      sizeBytes: String(size),
      paramCount: String(manifest.paramCount ?? size / 4),
      chunkSize: CHUNK_BYTES,
      manifestJson,
    },
  });
  for await (const chunk of artifacts.readChunks(modelHash, CHUNK_BYTES)) {
    await write({ data: chunk });
  }
  call.end();
}
