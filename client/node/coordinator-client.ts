import { createHash } from "node:crypto";
import type * as grpc from "@grpc/grpc-js";
import { FedproofError } from "../../common/errors.js";
import type { CoordinatorClient } from "../../proto/generated/fedproof/v1/Coordinator.js";
import type { JobsClient } from "../../proto/generated/fedproof/v1/Jobs.js";
import type { ModelChunk__Output } from "../../proto/generated/fedproof/v1/ModelChunk.js";
import type { ModelHeader__Output } from "../../proto/generated/fedproof/v1/ModelHeader.js";
import type { ProvenanceClient } from "../../proto/generated/fedproof/v1/Provenance.js";
import type { SubmitUpdateResponse__Output } from "../../proto/generated/fedproof/v1/SubmitUpdateResponse.js";
import type { UpdateHeader } from "../../proto/generated/fedproof/v1/UpdateHeader.js";
import { CHANNEL_OPTIONS, CHUNK_BYTES, loadFedproofProto } from "../../proto/load.js";

export class ModelIntegrityError extends FedproofError {
  override name = "ModelIntegrityError";
}

export interface DownloadedModel {
  header: ModelHeader__Output;
  bytes: Uint8Array;
}

/**
 * Reads a header-then-chunks model stream and checks the bytes against the hash the
 * round named: a device never trains on a model it cannot prove it was sent.
 */
export async function readModelStream(
  stream: grpc.ClientReadableStream<ModelChunk__Output>,
  expectedHash?: string,
): Promise<DownloadedModel> {
  let header: ModelHeader__Output | undefined;
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream as AsyncIterable<ModelChunk__Output>) {
    if (chunk.header) header = chunk.header;
    else if (chunk.data) {
      parts.push(chunk.data);
      size += chunk.data.byteLength;
    }
  }
  if (!header) throw new ModelIntegrityError("model stream ended without a header");
  const bytes = Buffer.concat(parts, size);
  if (String(bytes.byteLength) !== String(header.sizeBytes)) {
    throw new ModelIntegrityError(
      `model stream carried ${bytes.byteLength} bytes, the header announced ${header.sizeBytes}`,
    );
  }
  const actual = createHash("sha256").update(bytes).digest("hex");
  const wanted = expectedHash ?? header.modelHash;
  if (actual !== wanted) {
    throw new ModelIntegrityError(`model bytes hash to ${actual}, expected ${wanted}`);
  }
  return { header, bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) };
}

/** Sends an update as a header then chunks of at most CHUNK_BYTES, honouring back-pressure. */
export function submitUpdate(
  client: CoordinatorClient,
  header: UpdateHeader,
  bytes: Uint8Array,
): Promise<SubmitUpdateResponse__Output> {
  return new Promise((resolve, reject) => {
    const call = client.submitUpdate((error, response) =>
      error ? reject(error) : resolve(response!),
    );
    void (async () => {
      const write = (message: object) =>
        new Promise<void>((done) => {
          if (call.write(message)) done();
          else call.once("drain", () => done());
        });
      await write({ header });
      for (let offset = 0; offset < bytes.byteLength; offset += CHUNK_BYTES) {
        await write({
          data: Buffer.from(
            bytes.buffer,
            bytes.byteOffset + offset,
            Math.min(CHUNK_BYTES, bytes.byteLength - offset),
          ),
        });
      }
      call.end();
    })();
  });
}
