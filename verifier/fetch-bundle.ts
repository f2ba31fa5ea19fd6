/**
 * A job's provenance bundle fetched from a coordinator over native gRPC (`fedproof verify
 * --coordinator`, `fedproof job provenance`). Apart from provenance-bundle.ts, which assembles
 * it and also runs in browsers, where the web app fetches the same answers over gRPC-web.
 */
import type { ChannelCredentials } from "@grpc/grpc-js";
import { createFedproofClients, unary } from "../proto/clients.js";
import type { JobInfo__Output } from "../proto/generated/fedproof/v1/JobInfo.js";
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
    return await bundleFromCoordinator({
      jobId,
      info,
      chain,
      verificationKeys: options.verificationKeys,
      getRound: (round) =>
        unary<RoundProvenance__Output>((cb) =>
          clients.provenance.getRound({ jobId, round }, deadline(), cb),
        ),
    });
  } finally {
    clients.close();
  }
}
