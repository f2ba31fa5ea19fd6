import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import type { ProtoGrpcType as CoordinatorProto } from "./generated/coordinator.js";
import type { ProtoGrpcType as JobsProto } from "./generated/jobs.js";
import type { ProtoGrpcType as ProvenanceProto } from "./generated/provenance.js";

/** Must match the flags in scripts/gen-proto.sh, or the generated types lie. */
export const PROTO_LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

export const PROTO_ROOT = fileURLToPath(new URL(".", import.meta.url));
export const PROTO_FILES = [
  "fedproof/v1/coordinator.proto",
  "fedproof/v1/jobs.proto",
  "fedproof/v1/provenance.proto",
];

/**
 * Message size limits are explicit: models and updates travel in chunks of at most
 * CHUNK_BYTES, so no single message needs more than this. Anything bigger is a bug or
 * an attack, and gRPC rejects it with RESOURCE_EXHAUSTED before it reaches a handler.
 */
export const CHUNK_BYTES = 1024 * 1024;
export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

/** Client channels: keepalive pings find a dead coordinator while a device waits for tasks. */
export const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
  "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
  "grpc.keepalive_time_ms": 60_000,
  "grpc.keepalive_timeout_ms": 30_000,
  "grpc.keepalive_permit_without_calls": 1,
};

/**
 * The server pings rarely and waits long: a phone or a busy edge box may take a while to
 * answer (training, proving), and dropping it would cost its whole round.
 */
export const SERVER_OPTIONS: grpc.ChannelOptions = {
  "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
  "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
  "grpc.keepalive_time_ms": 120_000,
  "grpc.keepalive_timeout_ms": 60_000,
  "grpc.keepalive_permit_without_calls": 1,
};

export type FedproofProto = CoordinatorProto & JobsProto & ProvenanceProto;

let cached: FedproofProto | undefined;

export function loadFedproofProto(): FedproofProto {
  if (!cached) {
    const definition = protoLoader.loadSync(PROTO_FILES, {
      ...PROTO_LOADER_OPTIONS,
      includeDirs: [PROTO_ROOT],
    });
    cached = grpc.loadPackageDefinition(definition) as unknown as FedproofProto;
  }
  return cached;
}
