import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bn254 } from "@noble/curves/bn254";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEV_TAU, writeDevPowersOfTau } from "../../circuits/dev-powers-of-tau.js";
import { releaseSnarkjsThreads } from "../../client/core/proving/release-snarkjs.js";
import { InvalidArgumentError } from "../../common/errors.js";
import { FIELD_MODULUS } from "./field.js";
import {
  decodeSrs,
  encodeSrs,
  evaluatePolynomial,
  type G1Hex,
  type KzgOpening,
  type KzgSrs,
  kzgCommit,
  kzgLinearCombination,
  kzgOpen,
  kzgVerify,
  kzgVerifyBatch,
  readSrsFromPtau,
  srsHash,
  toField,
} from "./kzg.js";

/*
 * The independent implementation is @noble/curves' BN254 (pure JavaScript bigint arithmetic,
 * its own Miller loop), against ffjavascript's WebAssembly curve that kzg.ts uses.
 *
 * G2 coordinate order (x = c0 + c1·u in Fp2 = Fp[u]/(u² + 1)):
 * - kzg.ts's KzgSrs.g2Tau, ffjavascript's toRprUncompressed and the EVM precompile (EIP-197)
 *   put the imaginary part first: x.c1 ‖ x.c0 ‖ y.c1 ‖ y.c0, 32 bytes big-endian each.
 * - noble holds Fp2 elements as { c0, c1 } (c0 real); Fp2.fromBigTuple takes [c0, c1].
 * So decoding g2Tau for noble swaps each pair: fromBigTuple([bytes 32..64, bytes 0..32]).
 * G1 is x ‖ y in both.
 */

const { Fp2, Fp12 } = bn254.fields;
const G1 = bn254.G1.ProjectivePoint;
const G2 = bn254.G2.ProjectivePoint;
type NobleG1 = InstanceType<typeof G1>;
type NobleG2 = InstanceType<typeof G2>;
const R = FIELD_MODULUS;
const P = 21888242871839275222246405745257275088696311157297823662689037894645226208583n;

const dir = mkdtempSync(join(tmpdir(), "fedproof-kzg-"));
const ptauPath = join(dir, "p5.ptau");
/** A power-5 dev ptau holds 63 G1 powers; 40 of them are enough for every polynomial here. */
const SIZE = 40;
let srs: KzgSrs;

beforeAll(async () => {
  await writeDevPowersOfTau({ power: 5, path: ptauPath, prepared: false });
  srs = await readSrsFromPtau(ptauPath, SIZE);
}, 120_000);

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await releaseSnarkjsThreads();
});

function word(bytes: Uint8Array, offset: number): bigint {
  let v = 0n;
  for (let i = offset; i < offset + 32; i++) v = (v << 8n) | BigInt(bytes[i]);
  return v;
}

function hexBytes(point: G1Hex): Uint8Array {
  return Uint8Array.from(point.slice(2).match(/../g) ?? [], (h) => Number.parseInt(h, 16));
}

function nobleG1(bytes: Uint8Array, offset = 0): NobleG1 {
  const x = word(bytes, offset);
  const y = word(bytes, offset + 32);
  if (x === 0n && y === 0n) return G1.ZERO;
  const point = G1.fromAffine({ x, y });
  point.assertValidity();
  return point;
}

function nobleG2Tau(bytes: Uint8Array): NobleG2 {
  const x = Fp2.fromBigTuple([word(bytes, 32), word(bytes, 0)]);
  const y = Fp2.fromBigTuple([word(bytes, 96), word(bytes, 64)]);
  const point = G2.fromAffine({ x, y });
  point.assertValidity();
  return point;
}

function toHex(point: NobleG1): G1Hex {
  if (point.equals(G1.ZERO)) return `0x${"0".repeat(128)}`;
  const { x, y } = point.toAffine();
  return `0x${x.toString(16).padStart(64, "0")}${y.toString(16).padStart(64, "0")}`;
}

function be32(value: bigint): Uint8Array {
  return hexBytes(`0x${value.toString(16).padStart(64, "0")}`);
}

function randomScalar(): bigint {
  const bytes = new Uint8Array(32);
  crypto.getRandomValues(bytes);
  return word(bytes, 0) % R;
}

/** A chunk-like vector: signed 16-bit values (as field elements) and two full-width blindings. */
function chunk(n: number): bigint[] {
  const values = Array.from({ length: n }, () => {
    const v = BigInt(Math.floor(Math.random() * 65536) - 32768);
    return toField(v);
  });
  return [...values, randomScalar(), randomScalar()];
}

async function open(coefficients: bigint[], x = randomScalar()): Promise<KzgOpening> {
  const commitment = await kzgCommit(srs, coefficients);
  const { value, proof } = await kzgOpen(srs, coefficients, x);
  return { commitment, x, value, proof };
}

describe("KZG commitments", () => {
  it("commits, opens and verifies; a wrong value, x, commitment or proof is refused", async () => {
    const hashBefore = srsHash(srs);
    const coefficients = chunk(30);
    const good = await open(coefficients);
    expect(good.value).toBe(evaluatePolynomial(coefficients, good.x));
    expect(await kzgVerify(srs, good)).toBe(true);

    const other = await open(chunk(30));
    const attacks: [string, KzgOpening][] = [
      ["wrong value", { ...good, value: (good.value + 1n) % R }],
      ["wrong x", { ...good, x: (good.x + 1n) % R }],
      ["wrong commitment", { ...good, commitment: other.commitment }],
      ["wrong proof", { ...good, proof: other.proof }],
      ["value of another point", { ...good, value: evaluatePolynomial(coefficients, 7n) }],
    ];
    for (const [what, opening] of attacks) {
      expect(await kzgVerify(srs, opening), what).toBe(false);
    }
    // Nothing changed: the SRS is the same and the honest opening still verifies.
    expect(srsHash(srs)).toBe(hashBefore);
    expect(await kzgVerify(srs, good)).toBe(true);
  });

  it("batch-verifies many openings and refuses a batch with one bad opening", async () => {
    const openings = await Promise.all(
      [chunk(5), chunk(30), chunk(37), chunk(1)].map((c) => open(c)),
    );
    expect(await kzgVerifyBatch(srs, openings)).toBe(true);
    expect(await kzgVerifyBatch(srs, [])).toBe(true);
    for (let k = 0; k < openings.length; k++) {
      const bad = openings.map((o, j) => (j === k ? { ...o, value: (o.value + 1n) % R } : o));
      expect(await kzgVerifyBatch(srs, bad), `bad opening ${k}`).toBe(false);
    }
    // Two wrong openings whose errors would cancel in an unweighted sum.
    const cancelling = openings.map((o, j) =>
      j === 0
        ? { ...o, value: (o.value + 1n) % R }
        : j === 1
          ? { ...o, value: (o.value + R - 1n) % R }
          : o,
    );
    expect(await kzgVerifyBatch(srs, cancelling)).toBe(false);
    expect(await kzgVerifyBatch(srs, openings)).toBe(true);
  });

  it("handles the edge polynomials: empty, constant, zero, and the full SRS", async () => {
    const empty = await open([]);
    expect(empty.commitment).toBe(`0x${"0".repeat(128)}`);
    expect(empty.value).toBe(0n);
    expect(await kzgVerify(srs, empty)).toBe(true);
    const constant = await open([5n]);
    expect(constant.proof).toBe(`0x${"0".repeat(128)}`);
    expect(await kzgVerify(srs, constant)).toBe(true);
    expect(await kzgVerify(srs, { ...constant, value: 6n })).toBe(false);
    const full = await open(Array.from({ length: SIZE }, () => randomScalar()));
    expect(await kzgVerify(srs, full)).toBe(true);
    const zeroX = await open(chunk(10), 0n);
    expect(await kzgVerify(srs, zeroX)).toBe(true);
  });
});

describe("independent cross-check with @noble/curves", () => {
  it("reads exactly τ^i·G1 and τ·G2 from the dev ptau (τ is public there)", () => {
    let power = 1n;
    for (let i = 0; i < SIZE; i++) {
      const expected = i === 0 ? G1.BASE : G1.BASE.multiply(power);
      expect(nobleG1(srs.g1, i * 64).equals(expected), `power ${i}`).toBe(true);
      power = (power * DEV_TAU) % R;
    }
    expect(nobleG2Tau(srs.g2Tau).equals(G2.BASE.multiply(DEV_TAU))).toBe(true);
  });

  it("checks a kzg.ts opening with noble's pairing alone", async () => {
    const opening = await open(chunk(35));
    const C = nobleG1(hexBytes(opening.commitment));
    const proof = nobleG1(hexBytes(opening.proof));
    const tauG2 = nobleG2Tau(srs.g2Tau);
    // e(C − v·G1, G2) = e(π, [τ]G2 − x·G2)
    const left = bn254.pairing(C.subtract(G1.BASE.multiply(opening.value)), G2.BASE);
    const right = bn254.pairing(proof, tauG2.subtract(G2.BASE.multiply(opening.x)));
    expect(Fp12.eql(left, right)).toBe(true);
    // The same check refuses a wrong value, so it is not vacuous.
    const wrong = bn254.pairing(C.subtract(G1.BASE.multiply(opening.value + 1n)), G2.BASE);
    expect(Fp12.eql(wrong, right)).toBe(false);
  });

  it("recomputes commitments with noble's scalar multiplication and gets the same bytes", async () => {
    // Small positive, small negative (r − |q|), values around the 2^128 short-scalar bound,
    // and full-width blinding coefficients: every path of kzg.ts's MSM.
    const coefficients = [
      ...chunk(20),
      toField(-1n),
      (1n << 128n) - 1n,
      1n << 128n,
      toField(-(1n << 127n)),
      R - 1n,
      0n,
      (R - 1n) / 2n,
      (R + 1n) / 2n,
    ];
    const commitment = await kzgCommit(srs, coefficients);
    let sum = G1.ZERO;
    coefficients.forEach((a, j) => {
      sum = sum.add(nobleG1(srs.g1, j * 64).multiplyUnsafe(a));
    });
    expect(commitment).toBe(toHex(sum));

    const x = randomScalar();
    const { proof } = await kzgOpen(srs, coefficients, x);
    // The quotient's commitment, recomputed from its definition with noble.
    const d = coefficients.length - 1;
    const quotient: bigint[] = new Array(d);
    let carry = coefficients[d];
    for (let j = d - 1; j >= 0; j--) {
      quotient[j] = carry;
      carry = (coefficients[j] + x * carry) % R;
    }
    let qSum = G1.ZERO;
    quotient.forEach((a, j) => {
      qSum = qSum.add(nobleG1(srs.g1, j * 64).multiplyUnsafe(a));
    });
    expect(proof).toBe(toHex(qSum));
  });

  it("agrees with the ptau's own structure: point 0 is G1 and e([τ]G1, G2) = e(G1, [τ]G2)", () => {
    expect(nobleG1(srs.g1, 0).equals(G1.BASE)).toBe(true);
    const tauG1 = nobleG1(srs.g1, 64);
    const tauG2 = nobleG2Tau(srs.g2Tau);
    expect(Fp12.eql(bn254.pairing(tauG1, G2.BASE), bn254.pairing(G1.BASE, tauG2))).toBe(true);
    // …and e([τ²]G1, G2) = e([τ]G1, [τ]G2), the next power along.
    const tau2G1 = nobleG1(srs.g1, 128);
    expect(Fp12.eql(bn254.pairing(tau2G1, G2.BASE), bn254.pairing(tauG1, tauG2))).toBe(true);
  });
});

describe("homomorphism", () => {
  it("Σ w_i·C_i commits to Σ w_i·p_i, blindings included, with negative weights", async () => {
    const vectors = [chunk(30), chunk(30), chunk(30), chunk(30)];
    const weights = [3n, -7n, 1n << 40n, -(1n << 70n)];
    const commitments = await Promise.all(vectors.map((v) => kzgCommit(srs, v)));
    const aggregate = vectors[0].map((_, j) =>
      toField(vectors.reduce((acc, v, i) => acc + weights[i] * v[j], 0n)),
    );
    expect(await kzgLinearCombination(commitments, weights)).toBe(await kzgCommit(srs, aggregate));
    // The same with the weights as field elements (r − |w|) instead of negative integers.
    expect(await kzgLinearCombination(commitments, weights.map(toField))).toBe(
      await kzgCommit(srs, aggregate),
    );
    // A wrong weight gives a different commitment.
    expect(await kzgLinearCombination(commitments, [3n, -7n, 1n << 40n, 0n])).not.toBe(
      await kzgCommit(srs, aggregate),
    );
  });

  it("a leave-one-out or zero-weighted sum is the sum of the rest", async () => {
    const vectors = [chunk(8), chunk(8)];
    const [a, b] = await Promise.all(vectors.map((v) => kzgCommit(srs, v)));
    expect(await kzgLinearCombination([a, b], [1n, 0n])).toBe(a);
    expect(await kzgLinearCombination([a, a], [1n, -1n])).toBe(`0x${"0".repeat(128)}`);
    const infinity: G1Hex = `0x${"0".repeat(128)}`;
    expect(await kzgLinearCombination([a, infinity], [2n, 5n])).toBe(
      await kzgLinearCombination([a], [2n]),
    );
    expect(await kzgLinearCombination([], [])).toBe(infinity);
  });
});

describe("encodings", () => {
  it("round-trips an SRS and pins it by hash", () => {
    const bytes = encodeSrs(srs);
    expect(bytes.length).toBe(12 + 128 + SIZE * 64);
    const decoded = decodeSrs(bytes);
    expect(decoded.size).toBe(SIZE);
    expect(decoded.g1).toEqual(srs.g1);
    expect(decoded.g2Tau).toEqual(srs.g2Tau);
    expect(srsHash(decoded)).toBe(srsHash(srs));
    expect(srsHash(srs)).toMatch(/^0x[0-9a-f]{64}$/);
  });

  it("refuses bad SRS lengths, magic and points, naming what was wrong", () => {
    const good = encodeSrs(srs);
    const tamper = (edit: (b: Uint8Array) => void): Uint8Array => {
      const copy = good.slice();
      edit(copy);
      return copy;
    };
    const g1At = (i: number) => 12 + 128 + i * 64;
    const cases: [string, Uint8Array, RegExp][] = [
      ["truncated", good.slice(0, good.length - 1), /an encoded SRS of 40 points is .* bytes, got/],
      ["too short", good.slice(0, 100), /at least 140 bytes/],
      ["extra byte", Uint8Array.from([...good, 0]), /an encoded SRS of 40 points/],
      [
        "magic",
        tamper((b) => {
          b[0] ^= 1;
        }),
        /magic/,
      ],
      [
        "size field",
        tamper((b) => {
          b[11] += 1;
        }),
        /an encoded SRS of 41 points/,
      ],
      [
        "G1 off curve",
        tamper((b) => {
          b[g1At(3) + 63] ^= 1;
        }),
        /SRS point 3 is not on the BN254 G1 curve/,
      ],
      [
        "G1 coordinate ≥ p",
        tamper((b) => {
          b.fill(0xff, g1At(5), g1At(5) + 32);
        }),
        /SRS point 5: a coordinate is not below the BN254 base field p/,
      ],
      [
        "G1 infinity",
        tamper((b) => {
          b.fill(0, g1At(7), g1At(8));
        }),
        /SRS point 7 is the point at infinity/,
      ],
      [
        "point 0 not the generator",
        tamper((b) => {
          b.copyWithin(g1At(0), g1At(1), g1At(2));
        }),
        /SRS point 0 is not the BN254 G1 generator/,
      ],
      [
        "G2 off twist",
        tamper((b) => {
          b[12 + 127] ^= 1;
        }),
        /SRS \[τ\]G2 is not on the BN254 G2 twist/,
      ],
      [
        "G2 coordinate ≥ p",
        tamper((b) => {
          b.fill(0xff, 12, 44);
        }),
        /SRS \[τ\]G2: a coordinate is not below the BN254 base field p/,
      ],
      [
        "G2 infinity",
        tamper((b) => {
          b.fill(0, 12, 140);
        }),
        /SRS \[τ\]G2 is the point at infinity/,
      ],
    ];
    for (const [what, bytes, message] of cases) {
      expect(() => decodeSrs(bytes), what).toThrow(InvalidArgumentError);
      expect(() => decodeSrs(bytes), what).toThrow(message);
    }
    // Nothing changed: the untampered encoding still decodes to the same SRS.
    expect(srsHash(decodeSrs(good))).toBe(srsHash(srs));
  });

  it("refuses a [τ]G2 on the twist but outside the order-r subgroup before using it", async () => {
    // A random twist point has a cofactor component with overwhelming probability.
    let coordinates: bigint[] | undefined;
    for (let t = 1n; !coordinates; t++) {
      const x = Fp2.fromBigTuple([t, 1n]);
      const rhs = Fp2.add(Fp2.mul(Fp2.sqr(x), x), bn254.params.G2b);
      let y: typeof x;
      try {
        y = Fp2.sqrt(rhs);
      } catch {
        continue; // not a square: no point with this x
      }
      if (G2.fromAffine({ x, y }).isTorsionFree()) continue;
      coordinates = [x.c1, x.c0, y.c1, y.c0]; // EIP-197 order, as KzgSrs.g2Tau
    }
    const g2Tau = new Uint8Array(128);
    coordinates.forEach((c, i) => {
      g2Tau.set(be32(c), i * 32);
    });
    const forged: KzgSrs = { size: srs.size, g1: srs.g1, g2Tau };
    // On the twist, so the synchronous decoder accepts it…
    expect(decodeSrs(encodeSrs(forged)).size).toBe(SIZE);
    // …but no commitment or verification runs on it.
    await expect(kzgCommit(forged, [1n])).rejects.toThrow(/not in the order-r subgroup of G2/);
    const good = await open(chunk(4));
    await expect(kzgVerify(forged, good)).rejects.toThrow(InvalidArgumentError);
    expect(await kzgVerify(srs, good)).toBe(true);
  });

  it("refuses malformed commitments, proofs, scalars and coefficient counts", async () => {
    const good = await open(chunk(10));
    const valid = hexBytes(good.commitment);
    const offCurve = valid.slice();
    offCurve[63] ^= 1;
    const hex = (b: Uint8Array): G1Hex =>
      `0x${Array.from(b, (v) => v.toString(16).padStart(2, "0")).join("")}`;
    const bigX = `0x${P.toString(16).padStart(64, "0")}${"0".repeat(63)}2` as G1Hex;
    const cases: [string, KzgOpening, RegExp][] = [
      [
        "short commitment",
        { ...good, commitment: good.commitment.slice(0, 100) as G1Hex },
        /commitment must be "0x" and 128 hex characters/,
      ],
      [
        "no 0x",
        { ...good, proof: `00${good.proof.slice(2)}` as G1Hex },
        /proof must be "0x" and 128 hex characters/,
      ],
      ["non-hex", { ...good, proof: `0x${"g".repeat(128)}` as G1Hex }, /proof must be "0x"/],
      [
        "off curve",
        { ...good, commitment: hex(offCurve) },
        /commitment is not on the BN254 G1 curve/,
      ],
      [
        "coordinate ≥ p",
        { ...good, proof: bigX },
        /proof: a coordinate is not below the BN254 base field p/,
      ],
      ["x ≥ r", { ...good, x: R }, /x must be a field element in \[0, r\)/],
      ["negative value", { ...good, value: -1n }, /value must be a field element in \[0, r\)/],
    ];
    for (const [what, opening, message] of cases) {
      await expect(kzgVerify(srs, opening), what).rejects.toThrow(InvalidArgumentError);
      await expect(kzgVerify(srs, opening), what).rejects.toThrow(message);
      await expect(kzgVerifyBatch(srs, [good, opening]), what).rejects.toThrow(message);
    }
    await expect(kzgCommit(srs, new Array(SIZE + 1).fill(1n))).rejects.toThrow(
      /41 coefficients do not fit an SRS of 40 powers/,
    );
    await expect(kzgCommit(srs, [1n, -5n])).rejects.toThrow(
      /coefficient 1 must be a field element in \[0, r\).*toField/,
    );
    await expect(kzgOpen(srs, [1n, R], 3n)).rejects.toThrow(
      /coefficient 1 must be a field element/,
    );
    await expect(kzgOpen(srs, [1n], R)).rejects.toThrow(
      /evaluation point x must be a field element/,
    );
    expect(() => evaluatePolynomial([R + 1n], 1n)).toThrow(/coefficient 0/);
    await expect(kzgLinearCombination([good.commitment], [1n, 2n])).rejects.toThrow(
      /one scalar per point: 1 points, 2 scalars/,
    );
    await expect(kzgLinearCombination([hex(offCurve)], [1n])).rejects.toThrow(
      /point 0 is not on the BN254 G1 curve/,
    );
    // Nothing changed: the honest opening still verifies.
    expect(await kzgVerify(srs, good)).toBe(true);
  });
});

describe("readSrsFromPtau", () => {
  it("refuses sizes the file does not hold and files that are not ptau", async () => {
    await expect(readSrsFromPtau(ptauPath, 64)).rejects.toThrow(
      /an SRS of 64 points does not fit ptau file .*power 5 holds 63 G1 powers/,
    );
    await expect(readSrsFromPtau(ptauPath, 0)).rejects.toThrow(/positive integer/);
    const notPtau = join(dir, "not.ptau");
    writeFileSync(notPtau, "zkey and other things, definitely not a powers of tau file");
    await expect(readSrsFromPtau(notPtau, 4)).rejects.toThrow(/is not a ptau file/);
    await expect(readSrsFromPtau(join(dir, "missing.ptau"), 4)).rejects.toThrow(/cannot open/);
    const full = await readSrsFromPtau(ptauPath, 63);
    expect(full.g1.subarray(0, SIZE * 64)).toEqual(srs.g1);
    expect(full.g2Tau).toEqual(srs.g2Tau);
  });
});
