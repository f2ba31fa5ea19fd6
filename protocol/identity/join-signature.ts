import { InvalidArgumentError } from "../../common/errors.js";
import {
  type BabyJubjubPublicKey,
  derivePublicKey,
  signPoseidon,
  verifyPoseidon,
} from "../proving/eddsa-poseidon.js";
import { decodeFieldElement, decodeSignature, encodeSignature } from "../proving/proof-codec.js";
import { type JoinMessageParameters, joinMessage } from "./join-message.js";

/** A join nonce: 31 random bytes as lower-case hex, below the field modulus by construction. */
export const JOIN_NONCE = /^[0-9a-f]{62}$/;

/**
 * The dataset commitment of a JoinRequest as the join message signs it: the 32-byte field
 * element, or 0 when the request carries none (a job without proofs need not commit).
 */
export function joinCommitmentField(bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : decodeFieldElement(bytes, "dataset commitment");
}

export type SignJoinParameters = Omit<JoinMessageParameters, "publicKey"> & {
  privateKey: Uint8Array;
};

export interface SignJoinReturnType {
  publicKey: BabyJubjubPublicKey;
  /** R8x ‖ R8y ‖ S, 96 bytes: JoinRequest.join_signature. */
  signature: Uint8Array;
}

/** The device's side: signs the Join it is about to send with its Baby Jubjub key. */
export function signJoin(parameters: SignJoinParameters): SignJoinReturnType {
  const { privateKey, ...message } = parameters;
  const publicKey = derivePublicKey(privateKey);
  const signature = signPoseidon(privateKey, joinMessage({ ...message, publicKey }));
  return { publicKey, signature: encodeSignature(signature) };
}

/**
 * The coordinator's side: whether `signature` is the key's signature over this Join. A
 * signature that is not even 96 bytes of field elements is refused as malformed.
 */
export function verifyJoin(parameters: JoinMessageParameters, signature: Uint8Array): boolean {
  if (signature.length !== 96) {
    throw new InvalidArgumentError(
      `a join signature is 96 bytes (R8x ‖ R8y ‖ S), got ${signature.length}`,
    );
  }
  return verifyPoseidon(parameters.publicKey, joinMessage(parameters), decodeSignature(signature));
}
