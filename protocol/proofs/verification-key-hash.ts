import { sha256 } from "@noble/hashes/sha2";
import { bytesToHex } from "@noble/hashes/utils";
import type { Groth16VerificationKey } from "snarkjs";

/**
 * The hash that pins a verification key (on chain, in job records, in `fedproof verify`):
 * SHA-256 of the key's canonical JSON (object keys sorted, no whitespace). Hashing a
 * canonical form rather than a file means formatting or key order in a stored vkey.json
 * cannot change the key's identity.
 */
export function verificationKeyHash(verificationKey: Groth16VerificationKey): `0x${string}` {
  return `0x${bytesToHex(sha256(new TextEncoder().encode(canonicalJson(verificationKey))))}`;
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}
