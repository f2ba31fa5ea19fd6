/**
 * The one hash a job pins on chain for its verification keys (`registerJob`'s `vkeyHash`).
 *
 * - no keys (the job runs without proofs): the zero hash, which the registry reads as "no proofs";
 * - one key: `verificationKeyHash(key)`, the hash `fedproof circuits build` prints for it;
 * - several (update-norm and data-validity circuits): sha256 of the canonical JSON of
 *   `{circuitId: verificationKeyHash(key)}`, so the pin names which key checks which circuit's
 *   proofs and a bundle cannot swap two keys between circuits.
 */
import type { Groth16VerificationKey } from "snarkjs";
import { type Hex, sha256, toBytes, zeroHash } from "viem";
import { canonicalJson } from "../job/job-spec.js";
import { verificationKeyHash } from "../proofs/verification-key-hash.js";

export type VerificationKeys = Readonly<Record<string, Groth16VerificationKey>>;

export function jobVerificationKeyHash(keys: VerificationKeys): Hex {
  const entries = Object.entries(keys);
  if (entries.length === 0) return zeroHash;
  if (entries.length === 1) return verificationKeyHash(entries[0]![1]);
  const pinned = Object.fromEntries(entries.map(([id, key]) => [id, verificationKeyHash(key)]));
  return sha256(toBytes(canonicalJson(pinned)));
}
