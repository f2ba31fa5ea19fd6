import { sha256 } from "@noble/hashes/sha2";
import { bytesToHex, hexToBytes } from "@noble/hashes/utils";
import { InvalidArgumentError } from "../../common/errors.js";

/**
 * Round challenge seeds as a hash chain: the coordinator draws a secret s_R for a job of R
 * rounds, sets s_{r−1} = SHA-256(s_r), and publishes only s_0 (the commitment) when the job is
 * created, before any device enrols. Round r reveals s_r in its task, after the round has
 * picked its devices, and every dataset it challenges was frozen at enrolment.
 *
 * Why a chain and not fresh randomness per round: a coordinator that colludes with a device
 * could otherwise pick, after the device's commitment, a seed whose challenged records are the
 * few well-formed ones. The commitment fixes every seed before any commitment exists; SHA-256
 * preimage resistance keeps s_{r+1} unknown while s_r is public, so a device that learns
 * round r's seed still cannot predict round r+1's. A verifier checks SHA-256^r(s_r) = s_0.
 */
export interface ChallengeChain {
  /** s_0, hex: what the job publishes (and the spec hash anchors). */
  commitment: string;
  /** seeds[r] = s_r for r = 0..rounds, hex. seeds[0] is the commitment. */
  seeds: string[];
}

const SEED_HEX = /^[0-9a-f]{64}$/;

function step(seed: Uint8Array): Uint8Array {
  return sha256(seed);
}

/** Draws s_R from a CSPRNG (Web Crypto: browsers and Node alike) and derives the chain. */
export function createChallengeChain(rounds: number, secret?: Uint8Array): ChallengeChain {
  if (!Number.isSafeInteger(rounds) || rounds < 1 || rounds > 1_000_000) {
    throw new InvalidArgumentError(
      `challenge chain length must be 1..1000000 rounds, got ${rounds}`,
    );
  }
  let current = secret ?? globalThis.crypto.getRandomValues(new Uint8Array(32));
  if (current.length !== 32) throw new InvalidArgumentError("a challenge secret is 32 bytes");
  const seeds: string[] = new Array(rounds + 1);
  seeds[rounds] = bytesToHex(current);
  for (let r = rounds - 1; r >= 0; r--) {
    current = step(current);
    seeds[r] = bytesToHex(current);
  }
  return { commitment: seeds[0]!, seeds };
}

/**
 * s_round from the chain's secret end s_rounds (hex), by `rounds − round` SHA-256 steps: what the
 * coordinator keeps is the secret alone, and each round's seed is derived when it is revealed.
 */
export function challengeSeedAt(secret: string, rounds: number, round: number): string {
  if (!SEED_HEX.test(secret))
    throw new InvalidArgumentError("a challenge secret is 32 bytes of hex");
  if (!Number.isSafeInteger(round) || round < 0 || round > rounds) {
    throw new InvalidArgumentError(
      `round ${round} is outside the challenge chain of ${rounds} rounds`,
    );
  }
  let current = hexToBytes(secret);
  for (let i = round; i < rounds; i++) current = step(current);
  return bytesToHex(current);
}

/** True when `seed` is round `round`'s seed of the chain committed to by `commitment`. */
export function isChallengeSeed(commitment: string, round: number, seed: string): boolean {
  if (!SEED_HEX.test(commitment) || !SEED_HEX.test(seed)) return false;
  if (!Number.isSafeInteger(round) || round < 1 || round > 1_000_000) return false;
  let current = hexToBytes(seed);
  for (let i = 0; i < round; i++) current = step(current);
  return bytesToHex(current) === commitment;
}
