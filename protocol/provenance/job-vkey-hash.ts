/**
 * The one hash a job pins on chain for its verification keys (`registerJob`'s `vkeyHash`).
 *
 * - no keys (the job runs without proofs): the zero hash, which the registry reads as "no proofs";
 * - one key and no KZG SRS: `verificationKeyHash(key)`, the hash `fedproof circuits build`
 *   prints for it;
 * - otherwise (update-norm and data-validity circuits, and the KZG SRS of the update-norm
 *   chunks): sha256 of the canonical JSON of `{circuitId: verificationKeyHash(key)}`, with
 *   the SRS's hash (srsHash of protocol/proving/kzg.ts) under the key `KZG_SRS_ENTRY`, so the pin
 *   names which key checks which circuit's proofs, a bundle cannot swap two keys between
 *   circuits, and the powers of τ the KZG commitments and openings are checked against are
 *   the ones the job started with. (`kzg-srs` cannot be a circuit id: ids start with the
 *   circuit kind.)
 */
import type { Groth16VerificationKey } from "snarkjs";
import { type Hex, sha256, toBytes, zeroHash } from "viem";
import { canonicalJson } from "../job/job-spec.js";
import { verificationKeyHash } from "../proofs/verification-key-hash.js";

export type VerificationKeys = Readonly<Record<string, Groth16VerificationKey>>;

/** The entry the KZG SRS hash is pinned under. */
export const KZG_SRS_ENTRY = "kzg-srs";

export function jobVerificationKeyHash(keys: VerificationKeys, srsHash?: Hex): Hex {
  const entries = Object.entries(keys);
  if (entries.length === 0) return zeroHash;
  if (entries.length === 1 && srsHash === undefined) return verificationKeyHash(entries[0]![1]);
  const pinned: Record<string, string> = Object.fromEntries(
    entries.map(([id, key]) => [id, verificationKeyHash(key)]),
  );
  if (srsHash !== undefined) pinned[KZG_SRS_ENTRY] = srsHash.toLowerCase();
  return sha256(toBytes(canonicalJson(pinned)));
}
