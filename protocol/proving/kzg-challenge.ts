/**
 * The evaluation point x that ties a chunk's KZG commitment to its UpdateNorm proof
 * (circuits/README.md, "UpdateNorm"). The device, the verify worker and `fedproof verify` all
 * derive it here, so one byte layout is the only definition:
 *
 *   x = uint256(sha256(tag ‖ context ‖ commitment ‖ C)) mod r
 *
 * - tag: the 25 ASCII bytes of "fedproof.kzg-challenge.v1" (no length prefix, no terminator);
 * - context: the chunk's proof context (public signal `context`), 32 bytes big-endian;
 * - commitment: the chunk's Poseidon commitment (public signal `commitment`), 32 bytes
 *   big-endian;
 * - C: the chunk's KZG commitment, 64 bytes (affine x ‖ y, each 32 bytes big-endian, the
 *   G1Hex encoding of protocol/proving/kzg.ts).
 *
 * That is Solidity's `abi.encodePacked(string tag, uint256 context, uint256 commitment, bytes C)`.
 * r is the BN254 scalar field modulus; the bias of reducing a 256-bit hash mod r (< 2^-2) only
 * makes some x slightly likelier, never predictable before C and the commitment are fixed.
 *
 * Why the Poseidon commitment is hashed in: it fixes every value and both blinding values the
 * proof is about before x exists, so a prover cannot pick bounded values that agree at x with
 * an unbounded committed polynomial. The context binds x to one job, round, device and chunk.
 */
import { sha256 } from "@noble/hashes/sha2";
import { InvalidArgumentError } from "../../common/errors.js";
import { bytesToBigInt, FIELD_MODULUS } from "./field.js";

export const KZG_CHALLENGE_TAG = "fedproof.kzg-challenge.v1";

export interface KzgChallengeParameters {
  /** The chunk's proof context (contextValue(context, chunkIndex)). */
  context: bigint;
  /** The chunk's Poseidon commitment, as the proof outputs it. */
  commitment: bigint;
  /** The chunk's KZG commitment: "0x" + 128 hex characters. */
  kzgCommitment: string;
}

/** x for one chunk, in [0, r). */
export function kzgChallenge(parameters: KzgChallengeParameters): bigint {
  const tag = new TextEncoder().encode(KZG_CHALLENGE_TAG);
  const point = g1Bytes(parameters.kzgCommitment);
  const message = new Uint8Array(tag.length + 32 + 32 + 64);
  message.set(tag, 0);
  message.set(uint256(parameters.context, "context"), tag.length);
  message.set(uint256(parameters.commitment, "commitment"), tag.length + 32);
  message.set(point, tag.length + 64);
  return bytesToBigInt(sha256(message)) % FIELD_MODULUS;
}

function uint256(value: bigint, what: string): Uint8Array {
  if (value < 0n || value >= FIELD_MODULUS) {
    throw new InvalidArgumentError(`the KZG challenge's ${what} is not a field element`);
  }
  const out = new Uint8Array(32);
  let rest = value;
  for (let i = 31; i >= 0; i--) {
    out[i] = Number(rest & 0xffn);
    rest >>= 8n;
  }
  return out;
}

function g1Bytes(hex: string): Uint8Array {
  if (!/^0x[0-9a-fA-F]{128}$/.test(hex)) {
    throw new InvalidArgumentError(
      `a KZG commitment is "0x" and 128 hex characters (affine x ‖ y), got ${hex.length} characters`,
    );
  }
  const out = new Uint8Array(64);
  for (let i = 0; i < 64; i++) out[i] = Number.parseInt(hex.slice(2 + 2 * i, 4 + 2 * i), 16);
  return out;
}
