import coordinatorProto from "../../proto/fedproof/v1/coordinator.proto?raw";
import jobsProto from "../../proto/fedproof/v1/jobs.proto?raw";
import provenanceProto from "../../proto/fedproof/v1/provenance.proto?raw";
import typesProto from "../../proto/fedproof/v1/types.proto?raw";
import { GrpcWebClient } from "./rpc/grpc-web-client.js";
import { createProtoRoot } from "./rpc/proto-root.js";

/** The coordinator that served this page, over gRPC-web, with the protos bundled at build. */
export const api = new GrpcWebClient({
  baseUrl: "",
  root: createProtoRoot([typesProto, coordinatorProto, jobsProto, provenanceProto]),
});
