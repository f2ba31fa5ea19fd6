import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import type { ServerWritableStream } from "@grpc/grpc-js";
import type { ArtifactChunk } from "../../proto/generated/fedproof/v1/ArtifactChunk.js";
import { CHUNK_BYTES } from "../../proto/load.js";
import { createStreamWrite } from "../../proto/stream-write.js";

/**
 * Streams a circuit artifact as a header then the file in CHUNK_BYTES pieces, honouring
 * back-pressure. A cancelled call rejects the pending write, which ends the loop and so
 * closes the file.
 */
export async function streamArtifact(
  call: ServerWritableStream<unknown, ArtifactChunk>,
  path: string,
  sha256: string,
): Promise<void> {
  const write = createStreamWrite(call);
  await write({ header: { sha256, sizeBytes: String((await stat(path)).size) } });
  for await (const chunk of createReadStream(path, { highWaterMark: CHUNK_BYTES })) {
    await write({ data: chunk as Buffer });
  }
  call.end();
}
