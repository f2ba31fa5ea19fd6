import { createCipheriv, randomBytes } from "node:crypto";
import { InvalidArgumentError } from "../../common/errors.js";
import type { Rng } from "./types.js";

/**
 * The randomness behind central DP noise. The models a round publishes are public, so
 * whoever can reproduce the noise can subtract it and recover the exact sum of the updates:
 * the guarantee is only as strong as the noise is unpredictable. A simulation PRNG seeded
 * with 32 bits falls to trying every seed, and anything derived from the job seed falls to
 * reading the spec. So the noise comes from ChaCha20 (RFC 8439, node:crypto's OpenSSL
 * implementation) keyed with 256 bits from the operating system, a fresh key per source.
 */
export interface CreateNoiseSourceParameters {
  /**
   * The 32-byte ChaCha20 key. Only tests pass one (to compare the stream with an independent
   * implementation); in production it must be left out, and comes from `randomBytes(32)`.
   */
  key?: Uint8Array;
}

/** Keystream bytes fetched from OpenSSL at a time; refills cost one cipher call each. */
const BLOCK_BYTES = 64 * 1024;
const ZEROS = new Uint8Array(BLOCK_BYTES);
const TWO_POW_26 = 2 ** 26;
const TWO_POW_53 = 2 ** 53;

export interface NoiseSource extends Rng {
  /** The next `length` raw keystream bytes (for the cross-check against other implementations). */
  bytes(length: number): Uint8Array;
}

export function createNoiseSource(parameters: CreateNoiseSourceParameters = {}): NoiseSource {
  const key = parameters.key ?? randomBytes(32);
  if (key.length !== 32) {
    throw new InvalidArgumentError(`a ChaCha20 key has 32 bytes, got ${key.length}`);
  }
  // OpenSSL's 16-byte IV is the 32-bit little-endian block counter, then the 96-bit nonce.
  // Counter 0 and nonce 0 are safe because every source has its own key and uses it once;
  // 2^32 blocks of 64 bytes (256 GiB) is far more than any aggregation draws.
  const cipher = createCipheriv("chacha20", key, new Uint8Array(16));
  let block = new Uint8Array(0);
  let offset = 0;
  let spare: number | undefined;

  const refill = () => {
    block = cipher.update(ZEROS);
    offset = 0;
  };
  const uint32 = (): number => {
    if (offset + 4 > block.length) refill();
    const value =
      (block[offset] |
        (block[offset + 1] << 8) |
        (block[offset + 2] << 16) |
        (block[offset + 3] << 24)) >>>
      0;
    offset += 4;
    return value;
  };
  // 53 random bits, the whole float64 mantissa: 27 from one word and 26 from the next.
  const next = (): number => ((uint32() >>> 5) * TWO_POW_26 + (uint32() >>> 6)) / TWO_POW_53;

  return {
    next,
    /**
     * Box–Muller on two 53-bit uniforms. 1 − u lies in (0, 1], so the logarithm is finite;
     * the smallest radius, √(−2 ln 2⁻⁵³) ≈ 8.57, bounds the tails, which the privacy
     * analysis tolerates (the truncation lies 8.5σ out, probability below 10⁻¹⁶).
     */
    normal(): number {
      if (spare !== undefined) {
        const value = spare;
        spare = undefined;
        return value;
      }
      const radius = Math.sqrt(-2 * Math.log(1 - next()));
      const angle = 2 * Math.PI * next();
      spare = radius * Math.sin(angle);
      return radius * Math.cos(angle);
    },
    bytes(length: number): Uint8Array {
      const out = new Uint8Array(length);
      for (let i = 0; i < length; i++) {
        if (offset >= block.length) refill();
        out[i] = block[offset++];
      }
      return out;
    },
  };
}
