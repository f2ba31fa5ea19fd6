import { open } from "node:fs/promises";
import { sha256 } from "@noble/hashes/sha2";
import { type BnCurve, getCurveFromName } from "ffjavascript";
import { InvalidArgumentError } from "../common/errors.js";
import { bytesToBigInt, FIELD_MODULUS } from "../protocol/proving/field.js";
import { FixedBaseMultiplier } from "./fixed-base-multiplier.js";

/**
 * The development powers of tau: τ, α and β are public (derived from fixed labels), so
 * ANYONE CAN FORGE PROOFS against keys built on it. It exists so that tests and the demo get
 * real Groth16 keys in seconds; production builds take an operator-supplied ceremony file.
 */
export const DEV_PTAU_REASON =
  "development powers of tau: tau, alpha and beta are derived from public labels, so anyone can forge proofs for keys built on it";

function secret(label: string): bigint {
  return (
    bytesToBigInt(
      sha256(new TextEncoder().encode(`fedproof insecure development setup: ${label}`)),
    ) % FIELD_MODULUS
  );
}

export const DEV_TAU = secret("tau");
export const DEV_ALPHA = secret("alpha");
export const DEV_BETA = secret("beta");

export interface WriteDevPowersOfTauParameters {
  /** log2 of the largest circuit domain the file supports (snarkjs's "power"). */
  power: number;
  path: string;
  /**
   * Include the Lagrange-basis sections 12–15 that `snarkjs powersoftau prepare phase2`
   * adds. Default true; false writes the plain accumulator (used to check byte identity
   * against snarkjs's own preparation).
   */
  prepared?: boolean;
}

const G1_AFFINE = 64;
const G2_AFFINE = 128;

/**
 * Writes a powers-of-tau file in snarkjs's format, computing every point directly from the
 * known τ instead of through snarkjs's FFT over curve points. `prepare phase2` evaluates the
 * Lagrange basis with an inverse FFT whose butterflies are full scalar multiplications
 * (minutes for 2^12, hours for 2^19 on this machine); with τ known, each Lagrange point is
 * one scalar multiple L_j(τ)·G, and a fixed-base table makes each of those ~30–120 µs.
 * The output is byte-identical to what snarkjs prepares from the same accumulator
 * (`dev-powers-of-tau.test.ts`).
 */
export async function writeDevPowersOfTau(
  parameters: WriteDevPowersOfTauParameters,
): Promise<void> {
  const { power, path } = parameters;
  const prepared = parameters.prepared ?? true;
  if (!Number.isInteger(power) || power < 1 || power > 27) {
    throw new InvalidArgumentError(
      `powers of tau power must be an integer in [1, 27], got ${power}`,
    );
  }
  const curve = await getCurveFromName("bn128", true);
  const file = await open(path, "w");
  try {
    const g1 = await FixedBaseMultiplier.create(curve, "G1", curve.G1.gAffine);
    const g2 = await FixedBaseMultiplier.create(curve, "G2", curve.G2.gAffine);
    const n = 2 ** power;
    const writer = new SectionWriter(file);

    await writer.raw(fileHeader(prepared ? 11 : 7));
    await writer.section(1, ptauHeader(curve, power));

    const powers = geometric(1n, DEV_TAU, 2 * n - 1);
    await writer.section(2, g1.multiply(powers));
    await writer.section(3, g2.multiply(powers.slice(0, n)));
    await writer.section(4, g1.multiply(powers.slice(0, n).map((x) => mul(x, DEV_ALPHA))));
    await writer.section(5, g1.multiply(powers.slice(0, n).map((x) => mul(x, DEV_BETA))));
    await writer.section(6, g2.multiply([DEV_BETA]));
    // No recorded contributions: this file claims no ceremony, and `powersoftau verify`
    // rejects it, as it should.
    await writer.section(7, new Uint8Array(4));

    if (prepared) {
      const sections: [
        id: number,
        multiplier: FixedBaseMultiplier,
        factor: bigint,
        size: number,
        extra: boolean,
      ][] = [
        [12, g1, 1n, G1_AFFINE, true],
        [13, g2, 1n, G2_AFFINE, false],
        [14, g1, DEV_ALPHA, G1_AFFINE, false],
        [15, g1, DEV_BETA, G1_AFFINE, false],
      ];
      for (const [id, multiplier, factor, size, extra] of sections) {
        const top = extra ? power + 1 : power;
        await writer.startSection(id, size * (2 ** (top + 1) - 1));
        for (let p = 0; p <= top; p++) {
          const scalars = lagrangeAtTau(curve, p, p === power + 1).map((x) => mul(x, factor));
          await writer.raw(multiplier.multiply(scalars));
        }
      }
    }
  } finally {
    await file.close();
    await curve.terminate();
  }
}

/**
 * What snarkjs's inverse FFT of [τ^0, …, τ^(m−1)] gives at position j, for m = 2^p:
 * (1/m) Σ_i (τ·ω^−j)^i = L_j(τ), the Lagrange basis of the order-m subgroup at τ, with
 * ffjavascript's root of unity ω. For the extra level p = power + 1, snarkjs has only
 * 2^(p) − 1 powers and pads the last with zero, so the top term (1/m)(τ·ω^−j)^(m−1) is
 * missing; we subtract it the same way.
 */
function lagrangeAtTau(curve: BnCurve, p: number, truncated: boolean): bigint[] {
  const m = 2 ** p;
  const omega = curve.Fr.toObject(curve.Fr.w[p]);
  const omegaInverse = inverse(omega);
  const mInverse = inverse(BigInt(m));
  const tauToM = pow(DEV_TAU, BigInt(m));
  const numerator = mul(mInverse, sub(tauToM, 1n));
  const x: bigint[] = new Array(m);
  let omegaMinusJ = 1n;
  for (let j = 0; j < m; j++) {
    x[j] = mul(DEV_TAU, omegaMinusJ);
    omegaMinusJ = mul(omegaMinusJ, omegaInverse);
  }
  const denominators = batchInverse(x.map((v) => sub(v, 1n)));
  const result = denominators.map((d) => mul(numerator, d));
  if (truncated) {
    // (τ·ω^−j)^(m−1) = τ^(m−1) · ω^j, because ω^m = 1.
    const tauTop = pow(DEV_TAU, BigInt(m - 1));
    let omegaJ = 1n;
    for (let j = 0; j < m; j++) {
      result[j] = sub(result[j], mul(mInverse, mul(tauTop, omegaJ)));
      omegaJ = mul(omegaJ, omega);
    }
  }
  return result;
}

function fileHeader(sections: number): Uint8Array {
  const bytes = new Uint8Array(12);
  bytes.set(new TextEncoder().encode("ptau"), 0);
  const view = new DataView(bytes.buffer);
  view.setUint32(4, 1, true);
  view.setUint32(8, sections, true);
  return bytes;
}

function ptauHeader(curve: BnCurve, power: number): Uint8Array {
  const bytes = new Uint8Array(44);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, 32, true);
  let q = curve.q;
  for (let i = 0; i < 32; i++) {
    bytes[4 + i] = Number(q & 0xffn);
    q >>= 8n;
  }
  view.setUint32(36, power, true);
  view.setUint32(40, power, true);
  return bytes;
}

class SectionWriter {
  constructor(private readonly file: import("node:fs/promises").FileHandle) {}

  async raw(bytes: Uint8Array): Promise<void> {
    await this.file.write(bytes);
  }

  async startSection(id: number, size: number): Promise<void> {
    const header = new Uint8Array(12);
    const view = new DataView(header.buffer);
    view.setUint32(0, id, true);
    view.setBigUint64(4, BigInt(size), true);
    await this.raw(header);
  }

  async section(id: number, body: Uint8Array): Promise<void> {
    await this.startSection(id, body.byteLength);
    await this.raw(body);
  }
}

function mul(a: bigint, b: bigint): bigint {
  return (a * b) % FIELD_MODULUS;
}

function sub(a: bigint, b: bigint): bigint {
  const r = (a - b) % FIELD_MODULUS;
  return r < 0n ? r + FIELD_MODULUS : r;
}

function pow(base: bigint, exponent: bigint): bigint {
  let result = 1n;
  let b = base % FIELD_MODULUS;
  let e = exponent;
  while (e > 0n) {
    if (e & 1n) result = mul(result, b);
    b = mul(b, b);
    e >>= 1n;
  }
  return result;
}

function inverse(a: bigint): bigint {
  return pow(a, FIELD_MODULUS - 2n);
}

/** Montgomery's trick: n inverses for one inversion and 3n multiplications. */
function batchInverse(values: readonly bigint[]): bigint[] {
  const prefix: bigint[] = new Array(values.length);
  let acc = 1n;
  for (let i = 0; i < values.length; i++) {
    prefix[i] = acc;
    acc = mul(acc, values[i]);
  }
  let inv = inverse(acc);
  const result: bigint[] = new Array(values.length);
  for (let i = values.length - 1; i >= 0; i--) {
    result[i] = mul(inv, prefix[i]);
    inv = mul(inv, values[i]);
  }
  return result;
}

function geometric(first: bigint, ratio: bigint, count: number): bigint[] {
  const out: bigint[] = new Array(count);
  let x = first;
  for (let i = 0; i < count; i++) {
    out[i] = x;
    x = mul(x, ratio);
  }
  return out;
}
