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

/** gRPC clients for one coordinator address (host:port), sharing one channel's settings. */
export function createFedproofClients(address: string): FedproofClients {
  const proto = loadFedproofProto();
  const credentials = grpc.credentials.createInsecure();
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
