import { createHash } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { FedproofError } from "../../common/errors.js";
import { unary } from "../../proto/clients.js";
import type { CoordinatorClient } from "../../proto/generated/fedproof/v1/Coordinator.js";
import type { JoinChallenge__Output } from "../../proto/generated/fedproof/v1/JoinChallenge.js";
import type { JoinRequest } from "../../proto/generated/fedproof/v1/JoinRequest.js";
import type { JoinResponse__Output } from "../../proto/generated/fedproof/v1/JoinResponse.js";
import type { ModelChunk__Output } from "../../proto/generated/fedproof/v1/ModelChunk.js";
import type { ModelHeader__Output } from "../../proto/generated/fedproof/v1/ModelHeader.js";
import type { SubmitUpdateResponse__Output } from "../../proto/generated/fedproof/v1/SubmitUpdateResponse.js";
import type { UpdateHeader } from "../../proto/generated/fedproof/v1/UpdateHeader.js";
import { CHUNK_BYTES } from "../../proto/load.js";
import { createStreamWrite } from "../../proto/stream-write.js";
import { joinCommitmentField, signJoin } from "../../protocol/identity/join-signature.js";
import { encodePublicKey } from "../../protocol/proving/proof-codec.js";

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

/**
 * Sends an update as a header then chunks of at most CHUNK_BYTES, honouring back-pressure. When
 * the coordinator answers early (it refuses the header, the round closes), the pending write
 * settles and the upload stops; the answer's status is what the caller sees.
 */
export function submitUpdate(
  client: CoordinatorClient,
  header: UpdateHeader,
  bytes: Uint8Array,
): Promise<SubmitUpdateResponse__Output> {
  return new Promise((resolve, reject) => {
    const call = client.submitUpdate((error, response) =>
      error ? reject(error) : resolve(response!),
    );
    const write = createStreamWrite(call);
    void (async () => {
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
    })().catch((error: unknown) => {
      // Usually the callback has already rejected with the coordinator's status; otherwise the
      // upload failed here, and the call must not linger half-written.
      reject(error);
      call.cancel();
    });
  });
}

export interface JoinJobParameters {
  jobId: string;
  /** Empty or absent: the coordinator assigns one with the challenge. */
  deviceId?: string;
  /** The device's 32-byte Baby Jubjub key: its id is bound to it on first Join. */
  privateKey: Uint8Array;
  samples: number;
  platform?: string;
  backend?: string;
  payoutAddress?: string;
  /** 32 bytes (jobs with proofs; optional without). */
  datasetCommitment?: Uint8Array;
  /** 96 bytes (jobs with proofs). */
  datasetSignature?: Uint8Array;
  /**
   * How many times to try again, after a random pause of up to a second, when the job's Join
   * rate limit answers RESOURCE_EXHAUSTED (default 0: the caller sees the refusal).
   */
  rateLimitRetries?: number;
}

export type SignedJoinRequestParameters = JoinJobParameters & { deviceId: string; nonce: string };

/** A JoinRequest signed by the device's key over the coordinator's nonce (join-message.ts). */
export function signedJoinRequest(parameters: SignedJoinRequestParameters): JoinRequest {
  const datasetCommitment = parameters.datasetCommitment ?? new Uint8Array();
  const payoutAddress = parameters.payoutAddress ?? "";
  const { publicKey, signature } = signJoin({
    privateKey: parameters.privateKey,
    jobId: parameters.jobId,
    deviceId: parameters.deviceId,
    nonce: parameters.nonce,
    payoutAddress,
    datasetCommitment: joinCommitmentField(datasetCommitment),
    samples: parameters.samples,
  });
  return {
    jobId: parameters.jobId,
    deviceId: parameters.deviceId,
    publicKey: encodePublicKey(publicKey),
    datasetCommitment,
    datasetSignature: parameters.datasetSignature ?? new Uint8Array(),
    samples: parameters.samples,
    platform: parameters.platform ?? "",
    backend: parameters.backend ?? "",
    payoutAddress,
    nonce: parameters.nonce,
    joinSignature: signature,
  };
}

/** Asks for a Join nonce (and a device id, when none is given), signs the Join, joins. */
export async function joinJob(
  client: CoordinatorClient,
  parameters: JoinJobParameters,
): Promise<JoinResponse__Output> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await joinOnce(client, parameters);
    } catch (error) {
      const limited = (error as Partial<grpc.ServiceError>).code === grpc.status.RESOURCE_EXHAUSTED;
      if (!limited || attempt >= (parameters.rateLimitRetries ?? 0)) throw error;
      // Jittered, so devices refused together do not come back together.
      await new Promise((resolve) => setTimeout(resolve, 200 + Math.random() * 800));
    }
  }
}

async function joinOnce(
  client: CoordinatorClient,
  parameters: JoinJobParameters,
): Promise<JoinResponse__Output> {
  const challenge = await unary<JoinChallenge__Output>((callback) =>
    client.getJoinChallenge(
      { jobId: parameters.jobId, deviceId: parameters.deviceId ?? "" },
      callback,
    ),
  );
  const request = signedJoinRequest({
    ...parameters,
    deviceId: challenge.deviceId,
    nonce: challenge.nonce,
  });
  return unary<JoinResponse__Output>((callback) => client.join(request, callback));
}
