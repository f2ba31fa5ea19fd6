/**
 * A job's provenance bundle fetched from a coordinator over native gRPC (`fedproof verify
 * --coordinator`, `fedproof job provenance`). Apart from provenance-bundle.ts, which assembles
 * it and also runs in browsers, where the web app fetches the same answers over gRPC-web.
 */
import { createHash } from "node:crypto";
import type { ChannelCredentials, ClientReadableStream } from "@grpc/grpc-js";
import { InvalidArgumentError } from "../common/errors.js";
import { createFedproofClients, unary } from "../proto/clients.js";
import type { ArtifactChunk__Output } from "../proto/generated/fedproof/v1/ArtifactChunk.js";
import type { JobInfo__Output } from "../proto/generated/fedproof/v1/JobInfo.js";
import type { ProofSetup__Output } from "../proto/generated/fedproof/v1/ProofSetup.js";
import type { RoundProvenance__Output } from "../proto/generated/fedproof/v1/RoundProvenance.js";
import type { VerificationKeys } from "../protocol/provenance/job-vkey-hash.js";
import {
  bundleFromCoordinator,
  type FetchBundleChain,
  type ProvenanceBundle,
} from "./provenance-bundle.js";

export interface FetchBundleOptions {
  verificationKeys?: VerificationKeys;
  /** How to reach the coordinator (`channelCredentials({ ca })` for TLS); default plaintext. */
  credentials?: ChannelCredentials;
  /** gRPC deadline per call; default 30 s. */
  timeoutMs?: number;
}

export async function fetchBundleFromCoordinator(
  address: string,
  jobId: string,
  chain: FetchBundleChain,
  options: FetchBundleOptions = {},
): Promise<ProvenanceBundle> {
  const clients = createFedproofClients(address, options.credentials);
  const deadline = () => ({ deadline: Date.now() + (options.timeoutMs ?? 30_000) });
  try {
    const info = await unary<JobInfo__Output>((cb) =>
      clients.jobs.getJob({ jobId }, deadline(), cb),
    );
    // A job with proofs: its KZG SRS, by the hash its proof setup names. Nothing here is
    // trusted: the verifier folds the hash of these bytes into the key hash the chain pins.
    let kzgSrs: Uint8Array | undefined;
    if (options.verificationKeys && Object.keys(options.verificationKeys).length > 0) {
      const setup = await unary<ProofSetup__Output>((cb) =>
        clients.coordinator.getProofSetup({ jobId }, deadline(), cb),
      );
      if (setup.srsSha256) {
        const stream = clients.coordinator.getArtifact(
          { sha256: setup.srsSha256 },
          deadline(),
        ) as ClientReadableStream<ArtifactChunk__Output>;
        const parts: Buffer[] = [];
        for await (const chunk of stream as AsyncIterable<ArtifactChunk__Output>) {
          if (chunk.data) parts.push(chunk.data);
        }
        const bytes = Buffer.concat(parts);
        const actual = createHash("sha256").update(bytes).digest("hex");
        if (actual !== setup.srsSha256) {
          throw new InvalidArgumentError(
            `the coordinator's KZG SRS hashes to ${actual}, its proof setup names ${setup.srsSha256}`,
          );
        }
        kzgSrs = new Uint8Array(bytes);
      }
    }
    return await bundleFromCoordinator({
      jobId,
      info,
      chain,
      verificationKeys: options.verificationKeys,
      ...(kzgSrs ? { kzgSrs } : {}),
      getRound: (round) =>
        unary<RoundProvenance__Output>((cb) =>
          clients.provenance.getRound({ jobId, round }, deadline(), cb),
        ),
    });
  } finally {
    clients.close();
  }
}
