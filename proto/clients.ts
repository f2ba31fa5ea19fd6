import * as grpc from "@grpc/grpc-js";
import type { CoordinatorClient } from "./generated/fedproof/v1/Coordinator.js";
import type { JobsClient } from "./generated/fedproof/v1/Jobs.js";
import type { ProvenanceClient } from "./generated/fedproof/v1/Provenance.js";
import { CHANNEL_OPTIONS, loadFedproofProto } from "./load.js";

export interface FedproofClients {
  coordinator: CoordinatorClient;
  jobs: JobsClient;
  provenance: ProvenanceClient;
  close(): void;
}

/** How a client reaches a coordinator that serves TLS. */
export interface ClientTlsOptions {
  /** CA certificate(s), PEM, that the coordinator's certificate must chain to; default: system roots. */
  ca?: Buffer;
  /** This client's certificate and key, PEM, for a coordinator that requires mutual TLS. */
  cert?: Buffer;
  key?: Buffer;
}

/** Channel credentials: TLS when `tls` is given (even `{}`: the system roots), else plaintext. */
export function channelCredentials(tls?: ClientTlsOptions): grpc.ChannelCredentials {
  if (!tls) return grpc.credentials.createInsecure();
  return grpc.credentials.createSsl(tls.ca ?? null, tls.key ?? null, tls.cert ?? null);
}

/**
 * gRPC clients for one coordinator address (host:port), sharing one channel's settings;
 * plaintext unless given credentials (`channelCredentials({ ca })`).
 */
export function createFedproofClients(
  address: string,
  credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
): FedproofClients {
  const proto = loadFedproofProto();
  const coordinator = new proto.fedproof.v1.Coordinator(address, credentials, CHANNEL_OPTIONS);
  const jobs = new proto.fedproof.v1.Jobs(address, credentials, CHANNEL_OPTIONS);
  const provenance = new proto.fedproof.v1.Provenance(address, credentials, CHANNEL_OPTIONS);
  return {
    coordinator,
    jobs,
    provenance,
    close() {
      coordinator.close();
      jobs.close();
      provenance.close();
    },
  };
}

export function bearer(token: string): grpc.Metadata {
  const metadata = new grpc.Metadata();
  metadata.set("authorization", `Bearer ${token}`);
  return metadata;
}

/** Promisifies a unary call: `await unary((cb) => client.getJob(req, cb))`. */
export function unary<T>(
  call: (callback: (error: grpc.ServiceError | null, value?: T) => void) => unknown,
): Promise<T> {
  return new Promise((resolve, reject) => {
    call((error, value) => (error ? reject(error) : resolve(value as T)));
  });
}
