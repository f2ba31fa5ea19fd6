import { quote } from "../../common/errors.js";
import type { JoinRequest__Output } from "../../proto/generated/fedproof/v1/JoinRequest.js";
import { JOIN_NONCE, joinCommitmentField } from "../../protocol/identity/join-signature.js";
import type { BabyJubjubPublicKey } from "../../protocol/proving/eddsa-poseidon.js";
import { decodePublicKey } from "../../protocol/proving/proof-codec.js";
import { InvalidArgumentError } from "../errors.js";

/**
 * The bounds of every Join field, checked before anything reads the request: a field that is
 * too long is refused with a short quoted prefix, never stored, hashed into a key or echoed.
 */
const DEVICE_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const JOB_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const PAYOUT_ADDRESS = /^0x[0-9a-fA-F]{40}$/;
/** Printable ASCII: a platform or backend name is shown in job status and logs. */
const LABEL = /^[\x20-\x7e]{0,64}$/;

export interface ParsedJoinRequest {
  jobId: string;
  deviceId: string;
  nonce: string;
  publicKey: BabyJubjubPublicKey;
  /** Hex of the 64 public-key bytes, as the device record keeps it. */
  publicKeyHex: string;
  /** The 32 commitment bytes, or empty (a job without proofs need not commit). */
  datasetCommitment: Uint8Array;
  /** The commitment as the join message signs it (0 when absent). */
  datasetCommitmentField: bigint;
  datasetSignature: Uint8Array;
  samples: number;
  platform: string;
  backend: string;
  payoutAddress: string;
  joinSignature: Uint8Array;
}

export function parseJobId(value: string): string {
  if (!JOB_ID.test(value)) {
    throw new InvalidArgumentError(
      `job id ${quote(value)} must be 1–128 characters of [A-Za-z0-9._:-]`,
    );
  }
  return value;
}

export function parseDeviceId(value: string): string {
  if (!DEVICE_ID.test(value)) {
    throw new InvalidArgumentError(
      `device id ${quote(value)} must be 1–128 characters of [A-Za-z0-9._:-]`,
    );
  }
  return value;
}

/** Every field's length and format; the signature and the nonce are checked by the caller. */
export function parseJoinRequest(request: JoinRequest__Output): ParsedJoinRequest {
  // The device id first: it is what an oversized request most often abuses.
  const deviceId = parseDeviceId(request.deviceId);
  const jobId = parseJobId(request.jobId);
  if (!JOIN_NONCE.test(request.nonce)) {
    throw new InvalidArgumentError(
      `join nonce ${quote(request.nonce, 16)} is not the 62 hex characters GetJoinChallenge returns: call GetJoinChallenge first`,
    );
  }
  for (const [name, value] of [
    ["platform", request.platform],
    ["backend", request.backend],
  ] as const) {
    if (!LABEL.test(value)) {
      throw new InvalidArgumentError(
        `${name} ${quote(value, 32)} must be at most 64 printable ASCII characters`,
      );
    }
  }
  if (request.payoutAddress && !PAYOUT_ADDRESS.test(request.payoutAddress)) {
    throw new InvalidArgumentError(
      `payout address ${quote(request.payoutAddress, 48)} is not a 0x-prefixed 20-byte hex address`,
    );
  }
  const sized = (name: string, bytes: Uint8Array, sizes: readonly number[]) => {
    if (!sizes.includes(bytes.length)) {
      throw new InvalidArgumentError(
        `${name} must be ${sizes.join(" or ")} bytes, got ${bytes.length}`,
      );
    }
  };
  sized("public key", request.publicKey, [64]);
  sized("dataset commitment", request.datasetCommitment, [0, 32]);
  sized("dataset signature", request.datasetSignature, [0, 96]);
  sized("join signature", request.joinSignature, [96]);
  return {
    jobId,
    deviceId,
    nonce: request.nonce,
    publicKey: decodePublicKey(request.publicKey),
    publicKeyHex: Buffer.from(request.publicKey).toString("hex"),
    datasetCommitment: request.datasetCommitment,
    datasetCommitmentField: joinCommitmentField(request.datasetCommitment),
    datasetSignature: request.datasetSignature,
    samples: request.samples,
    platform: request.platform,
    backend: request.backend,
    payoutAddress: request.payoutAddress,
    joinSignature: request.joinSignature,
  };
}
