import { chacha20 } from "@noble/ciphers/chacha.js";
import { describe, expect, it } from "vitest";
import { logErfc } from "./log-erfc.js";
import { createNoiseSource } from "./noise-source.js";

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
const fixedKey = Uint8Array.from({ length: 32 }, (_, i) => (i * 7 + 3) & 0xff);
const DRAWS = 100_000;

describe("createNoiseSource", () => {
  it("emits the ChaCha20 keystream of RFC 8439, test vector A.1 #1", () => {
    // Key 0, nonce 0, block counter 0: the first 64 keystream bytes from the RFC.
    const source = createNoiseSource({ key: new Uint8Array(32) });
    expect(hex(source.bytes(64))).toBe(
      "76b8e0ada0f13d90405d6ae55386bd28bdd219b8a08ded1aa836efcc8b770dc7" +
        "da41597c5157488d7724e03fb8d84a376a43b8f41518a11cc387b669b2ee6586",
    );
  });

  it("matches @noble/ciphers' independent ChaCha20 over several refills", () => {
    // 300 KB crosses four of the source's 64 KiB refills, so the block counter must carry.
    const length = 300_000;
    const ours = createNoiseSource({ key: fixedKey }).bytes(length);
    const theirs = chacha20(fixedKey, new Uint8Array(12), new Uint8Array(length), undefined, 0);
    expect(hex(ours)).toBe(hex(theirs));
  });

  it("refuses a key that is not 32 bytes", () => {
    expect(() => createNoiseSource({ key: new Uint8Array(16) })).toThrow(/32 bytes/);
  });

  it("draws uniforms with 53 bits of resolution", () => {
    const source = createNoiseSource({ key: fixedKey });
    let belowHalf = 0;
    let lowBitsUsed = 0;
    let outside = 0;
    for (let i = 0; i < DRAWS; i++) {
      const u = source.next();
      if (!(u >= 0 && u < 1)) outside++;
      if (u < 0.5) belowHalf++;
      // A 32-bit generator leaves the 21 low bits of u·2⁵³ at zero.
      if ((u * 2 ** 53) % 2 ** 21 !== 0) lowBitsUsed++;
    }
    expect(outside).toBe(0);
    expect(Math.abs(belowHalf / DRAWS - 0.5)).toBeLessThan(0.01); // 6 standard errors
    expect(lowBitsUsed).toBeGreaterThan(DRAWS * 0.999);
  });

  it("draws standard normals: mean, variance and Kolmogorov–Smirnov within loose bounds", () => {
    const source = createNoiseSource({ key: fixedKey });
    const draws = Float64Array.from({ length: DRAWS }, () => source.normal());
    let sum = 0;
    for (const x of draws) sum += x;
    const mean = sum / DRAWS;
    let squares = 0;
    for (const x of draws) squares += (x - mean) ** 2;
    const variance = squares / (DRAWS - 1);
    // Standard errors: mean 1/√n ≈ 0.0032, variance √(2/n) ≈ 0.0045; the bounds are ~6 of them.
    expect(Math.abs(mean)).toBeLessThan(0.02);
    expect(Math.abs(variance - 1)).toBeLessThan(0.03);

    // KS distance to Φ; at n = 10⁵ the 0.1% critical value is 1.95/√n ≈ 0.0062.
    draws.sort();
    const phi = (x: number) => 0.5 * Math.exp(logErfc(-x / Math.SQRT2));
    let ks = 0;
    for (let i = 0; i < DRAWS; i++) {
      const cdf = phi(draws[i]);
      ks = Math.max(ks, Math.abs(cdf - i / DRAWS), Math.abs((i + 1) / DRAWS - cdf));
    }
    expect(ks).toBeLessThan(0.0062);
  });

  it("keys every source afresh from the operating system", () => {
    const a = createNoiseSource();
    const b = createNoiseSource();
    expect(hex(a.bytes(32))).not.toBe(hex(b.bytes(32)));
  });
});
