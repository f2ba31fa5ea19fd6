import { sha256 } from "@noble/hashes/sha2";
import { bytesToHex } from "@noble/hashes/utils";
import { COORDINATOR } from "./coordinator-api.js";
import type { GrpcWebClient } from "./grpc-web-client.js";

export interface DownloadChunkedParameters {
  client: GrpcWebClient;
  /** "GetModel" or "GetArtifact": a header, then the bytes in chunks. */
  method: "GetModel" | "GetArtifact";
  request: object;
  /** The sha256 that named the bytes: what arrives must hash to it. */
  sha256: string;
  signal?: AbortSignal;
  onProgress?: (progress: number) => void;
}

/**
 * A header-then-chunks stream of the Coordinator service, checked against the hash that named
 * it: a coordinator (or anything between it and the page) cannot swap a model or a proving key.
 */
export async function downloadChunked(parameters: DownloadChunkedParameters): Promise<Uint8Array> {
  const { method } = parameters;
  let size = 0;
  let announced = 0;
  const parts: Uint8Array[] = [];
  for await (const chunk of parameters.client.stream<{
    header?: { sizeBytes: string } | null;
    data?: Uint8Array;
  }>(COORDINATOR, method, parameters.request, { signal: parameters.signal })) {
    if (chunk.header) announced = Number(chunk.header.sizeBytes);
    else if (chunk.data) {
      parts.push(chunk.data);
      size += chunk.data.byteLength;
      if (announced) parameters.onProgress?.(size / announced);
    }
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const part of parts) {
    bytes.set(part, offset);
    offset += part.byteLength;
  }
  if (size !== announced)
    throw new Error(`${method}: got ${size} bytes, the header announced ${announced}`);
  const actual = bytesToHex(sha256(bytes));
  if (actual !== parameters.sha256) {
    throw new Error(`${method}: bytes hash to ${actual}, expected ${parameters.sha256}`);
  }
  return bytes;
}
