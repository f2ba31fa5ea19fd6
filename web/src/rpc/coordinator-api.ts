import { joinCommitmentField, signJoin } from "../../../protocol/identity/join-signature.js";
import { encodePublicKey } from "../../../protocol/proving/proof-codec.js";
import type { CallOptions, GrpcWebClient } from "./grpc-web-client.js";

export const COORDINATOR = "fedproof.v1.Coordinator";
export const JOBS = "fedproof.v1.Jobs";
export const PROVENANCE = "fedproof.v1.Provenance";

export interface JoinWebParameters {
  jobId: string;
  /** Empty: the coordinator assigns one with the challenge. */
  deviceId?: string;
  privateKey: Uint8Array;
  samples: number;
  platform: string;
  backend: string;
  datasetCommitment?: Uint8Array;
  datasetSignature?: Uint8Array;
  payoutAddress?: string;
}

/** What JoinResponse carries, as far as a web device reads it. */
export interface JoinAnswer {
  sessionToken: string;
  deviceId: string;
  currentModelHash: string;
  spec: Record<string, unknown> & {
    schema: { featureShape: number[]; min: number; max: number; classes: number };
    model: string;
    training: { holdoutFraction: number };
  };
  proofSetup?: Record<string, unknown> | null;
}

/**
 * Joins as every device does (protocol/identity/join-message.ts): a single-use nonce from
 * GetJoinChallenge, then a Join signed by the device's Baby Jubjub key over every field it sets.
 */
export async function joinOverWeb(
  client: GrpcWebClient,
  parameters: JoinWebParameters,
  options?: CallOptions,
): Promise<JoinAnswer> {
  const challenge = await client.unary<{ nonce: string; deviceId: string }>(
    COORDINATOR,
    "GetJoinChallenge",
    { jobId: parameters.jobId, deviceId: parameters.deviceId ?? "" },
    options,
  );
  const datasetCommitment = parameters.datasetCommitment ?? new Uint8Array();
  const payoutAddress = parameters.payoutAddress ?? "";
  const { publicKey, signature } = signJoin({
    privateKey: parameters.privateKey,
    jobId: parameters.jobId,
    deviceId: challenge.deviceId,
    nonce: challenge.nonce,
    payoutAddress,
    datasetCommitment: joinCommitmentField(datasetCommitment),
    samples: parameters.samples,
  });
  return client.unary<JoinAnswer>(
    COORDINATOR,
    "Join",
    {
      jobId: parameters.jobId,
      deviceId: challenge.deviceId,
      publicKey: encodePublicKey(publicKey),
      datasetCommitment,
      datasetSignature: parameters.datasetSignature ?? new Uint8Array(),
      samples: parameters.samples,
      platform: parameters.platform,
      backend: parameters.backend,
      payoutAddress,
      nonce: challenge.nonce,
      joinSignature: signature,
    },
    options,
  );
}
