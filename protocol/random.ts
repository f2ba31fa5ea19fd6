import { InvalidArgumentError } from "../common/errors.js";

/**
 * A seeded pseudo-random generator. Everything a device does "at random" (data order,
 * partitions, stochastic rounding, initial weights) draws from one of these, so that a
 * federated run can be replayed bit for bit from its seeds. Not for cryptography.
 */
export interface Rng {
  /** Uniform in [0, 1), 32 bits of resolution. */
  next(): number;
  /** Uniform 32-bit unsigned integer. */
  uint32(): number;
  /** Standard normal N(0, 1). */
  normal(): number;
  /** Gamma(shape, 1); shape > 0. */
  gamma(shape: number): number;
  /** Uniform integer in [0, maxExclusive); maxExclusive a positive integer ≤ 2^32. */
  int(maxExclusive: number): number;
  /** Fisher–Yates shuffle in place; returns the same array. */
  shuffle<T>(a: T[]): T[];
  /** An independent generator derived from this one's stream (for sub-tasks). */
  fork(): Rng;
}

const TWO_POW_32 = 4294967296;

/** splitmix32: spreads a seed's bits so that neighbouring seeds give unrelated streams. */
function splitmix32(state: number): [number, number] {
  const next = (state + 0x9e3779b9) | 0;
  let z = next;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  z ^= z >>> 16;
  return [next, z >>> 0];
}

/**
 * Mixes any safe integer (including negatives and values above 2^32) and optional extra
 * integers into one 32-bit seed. Used to derive per-purpose seeds, e.g. (seed, layer).
 */
export function deriveSeed(seed: number, ...salt: number[]): number {
  let state = 0x6a09e667;
  for (const value of [seed, ...salt]) {
    if (!Number.isSafeInteger(value)) {
      throw new InvalidArgumentError(`seed must be a safe integer, got ${value}`);
    }
    const low = value >>> 0;
    const high = Math.floor(value / TWO_POW_32) >>> 0;
    let out: number;
    [state, out] = splitmix32(state ^ low);
    [state, out] = splitmix32(state ^ high ^ out);
    state ^= out;
  }
  return splitmix32(state)[1];
}

/** xoshiro128**: small state, long period, passes the usual statistical batteries. */
export function createRng(seed: number): Rng {
  let state = deriveSeed(seed);
  const s = new Uint32Array(4);
  for (let i = 0; i < 4; i++) {
    let out: number;
    [state, out] = splitmix32(state);
    s[i] = out;
  }
  // An all-zero state would emit zeros forever; splitmix32 makes this practically
  // impossible, but the guard costs nothing.
  if ((s[0] | s[1] | s[2] | s[3]) === 0) s[0] = 1;

  const uint32 = (): number => {
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  };
  const next = (): number => uint32() / TWO_POW_32;

  let spareNormal: number | undefined;
  const normal = (): number => {
    if (spareNormal !== undefined) {
      const value = spareNormal;
      spareNormal = undefined;
      return value;
    }
    // Box–Muller; 1 - next() lies in (0, 1], so the logarithm stays finite.
    const radius = Math.sqrt(-2 * Math.log(1 - next()));
    const angle = 2 * Math.PI * next();
    spareNormal = radius * Math.sin(angle);
    return radius * Math.cos(angle);
  };

  const gamma = (shape: number): number => {
    if (!(shape > 0) || !Number.isFinite(shape)) {
      throw new InvalidArgumentError(`gamma shape must be a positive finite number, got ${shape}`);
    }
    if (shape < 1) {
      // Marsaglia–Tsang needs shape ≥ 1; boost and correct: G(a) = G(a+1)·U^(1/a).
      return gamma(shape + 1) * (1 - next()) ** (1 / shape);
    }
    const d = shape - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x: number;
      let v: number;
      do {
        x = normal();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const u = 1 - next();
      if (u < 1 - 0.0331 * x ** 4) return d * v;
      if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
    }
  };

  const int = (maxExclusive: number): number => {
    if (!Number.isInteger(maxExclusive) || maxExclusive <= 0 || maxExclusive > TWO_POW_32) {
      throw new InvalidArgumentError(
        `int() bound must be an integer in [1, 2^32], got ${maxExclusive}`,
      );
    }
    // Rejection sampling keeps every value exactly equally likely.
    const limit = TWO_POW_32 - (TWO_POW_32 % maxExclusive);
    for (;;) {
      const r = uint32();
      if (r < limit) return r % maxExclusive;
    }
  };

  const shuffle = <T>(a: T[]): T[] => {
    for (let i = a.length - 1; i > 0; i--) {
      const j = int(i + 1);
      const tmp = a[i];
      a[i] = a[j];
      a[j] = tmp;
    }
    return a;
  };

  const fork = (): Rng => createRng(deriveSeed(uint32(), uint32()));

  return { next, uint32, normal, gamma, int, shuffle, fork };
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
