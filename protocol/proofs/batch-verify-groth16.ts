import { type BnCurve, getCurveFromName, utils } from "ffjavascript";
import type { Groth16Proof, Groth16VerificationKey } from "snarkjs";
import { FIELD_MODULUS } from "../proving/field.js";

export interface Groth16Item {
  proof: Groth16Proof;
  publicSignals: readonly string[];
}

export interface BatchVerifyGroth16ReturnType {
  /** True when every proof verifies. */
  valid: boolean;
  /** Indices of the proofs that do not verify (empty when valid). */
  invalid: number[];
  /** How the answer was reached: one batched check, or the batch plus per-proof checks. */
  checks: "batch" | "batch+individual" | "individual";
}

export interface BatchVerifyGroth16Options {
  /** Source of the 128-bit batching coefficients; a CSPRNG unless a test pins it. */
  randomCoefficient?: () => bigint;
}

interface ParsedKey {
  alpha1: Uint8Array;
  beta2: Uint8Array;
  gamma2: Uint8Array;
  delta2: Uint8Array;
  /** IC points in affine form, IC[0] first. */
  ic: Uint8Array[];
}

interface ParsedProof {
  a: Uint8Array;
  b: Uint8Array;
  c: Uint8Array;
  signals: bigint[];
}

/**
 * Verifies many Groth16 proofs against one verification key with a single multi-pairing.
 *
 * Each proof i satisfies e(A_i, B_i) = e(α, β) · e(L_i, γ) · e(C_i, δ), with L_i the
 * public-input combination. Raising equation i to a random 128-bit r_i and multiplying
 * gives one check with n + 3 Miller loops and one final exponentiation, instead of 4n
 * Miller loops and n final exponentiations:
 *
 *   Π e(−r_i·A_i, B_i) · e((Σr_i)·α, β) · e(Σ r_i·L_i, γ) · e(Σ r_i·C_i, δ) = 1
 *
 * Pairing values lie in the order-r subgroup of GT, so if any single equation fails the
 * product is 1 only when Σ r_i·k_i ≡ 0 (mod r) for the failing exponents k_i, which random
 * r_i make happen with probability at most 2^−128. Σ r_i·L_i folds into one multi-scalar
 * multiplication over the IC points. When the batch fails, each proof is checked alone to
 * say which ones are bad.
 */
export async function batchVerifyGroth16(
  verificationKey: Groth16VerificationKey,
  items: readonly Groth16Item[],
  options: BatchVerifyGroth16Options = {},
): Promise<BatchVerifyGroth16ReturnType> {
  if (items.length === 0) return { valid: true, invalid: [], checks: "batch" };
  const curve = await getCurveFromName("bn128");
  const key = parseKey(curve, verificationKey);
  const invalid: number[] = [];
  const parsed: (ParsedProof | undefined)[] = items.map((item, index) => {
    const proof = parseProof(curve, item, key.ic.length - 1);
    if (!proof) invalid.push(index);
    return proof;
  });
  const candidates = parsed.flatMap((proof, index) => (proof ? [{ proof, index }] : []));
  if (candidates.length === 0) return { valid: false, invalid, checks: "individual" };
  if (candidates.length === 1) {
    const ok = await checkOne(curve, key, candidates[0].proof);
    if (!ok) invalid.push(candidates[0].index);
    invalid.sort((a, b) => a - b);
    return { valid: invalid.length === 0, invalid, checks: "individual" };
  }

  const random = options.randomCoefficient ?? randomCoefficient;
  const coefficients = candidates.map(() => random());
  if (
    await checkBatch(
      curve,
      key,
      candidates.map((c) => c.proof),
      coefficients,
    )
  ) {
    invalid.sort((a, b) => a - b);
    return { valid: invalid.length === 0, invalid, checks: "batch" };
  }
  for (const { proof, index } of candidates) {
    if (!(await checkOne(curve, key, proof))) invalid.push(index);
  }
  invalid.sort((a, b) => a - b);
  return { valid: invalid.length === 0, invalid, checks: "batch+individual" };
}

/** One proof alone: e(−A, B) · e(α, β) · e(L, γ) · e(C, δ) = 1. */
async function checkOne(curve: BnCurve, key: ParsedKey, proof: ParsedProof): Promise<boolean> {
  return checkBatch(curve, key, [proof], [1n]);
}

async function checkBatch(
  curve: BnCurve,
  key: ParsedKey,
  proofs: readonly ParsedProof[],
  coefficients: readonly bigint[],
): Promise<boolean> {
  const { G1 } = curve;
  const pairs: Uint8Array[] = [];
  let coefficientSum = 0n;
  const icScalars: bigint[] = new Array(key.ic.length - 1).fill(0n);
  for (let i = 0; i < proofs.length; i++) {
    const r = coefficients[i];
    const proof = proofs[i];
    pairs.push(G1.neg(r === 1n ? proof.a : G1.timesScalar(proof.a, r)), proof.b);
    coefficientSum = (coefficientSum + r) % FIELD_MODULUS;
    for (let j = 0; j < icScalars.length; j++) {
      icScalars[j] = (icScalars[j] + r * proof.signals[j]) % FIELD_MODULUS;
    }
  }
  const publicPart = G1.add(
    G1.timesScalar(key.ic[0], coefficientSum),
    await multiExp(curve, key.ic.slice(1), icScalars),
  );
  const cPart = await multiExp(
    curve,
    proofs.map((p) => G1.toAffine(p.c)),
    coefficients,
  );
  pairs.push(G1.timesScalar(key.alpha1, coefficientSum), key.beta2);
  pairs.push(publicPart, key.gamma2);
  pairs.push(cPart, key.delta2);
  return curve.pairingEq(...pairs);
}

async function multiExp(
  curve: BnCurve,
  points: readonly Uint8Array[],
  scalars: readonly bigint[],
): Promise<Uint8Array> {
  if (points.length === 0) return curve.G1.zero;
  const size = curve.G1.F.n8 * 2;
  const bases = new Uint8Array(points.length * size);
  const exponents = new Uint8Array(points.length * 32);
  for (let i = 0; i < points.length; i++) {
    bases.set(points[i], i * size);
    let s = scalars[i];
    for (let b = 0; b < 32; b++) {
      exponents[i * 32 + b] = Number(s & 0xffn);
      s >>= 8n;
    }
  }
  return curve.G1.multiExpAffine(bases, exponents);
}

function parseKey(curve: BnCurve, vk: Groth16VerificationKey): ParsedKey {
  const big = (value: unknown) => utils.unstringifyBigInts(value) as bigint[] & bigint[][];
  return {
    alpha1: curve.G1.fromObject(big(vk.vk_alpha_1)),
    beta2: curve.G2.fromObject(big(vk.vk_beta_2)),
    gamma2: curve.G2.fromObject(big(vk.vk_gamma_2)),
    delta2: curve.G2.fromObject(big(vk.vk_delta_2)),
    ic: vk.IC.map((point) => curve.G1.toAffine(curve.G1.fromObject(big(point)))),
  };
}

/**
 * Decodes and sanity-checks one proof; undefined when it cannot possibly verify: wrong
 * number of signals, a signal outside the field, a point off the curve, or B outside the
 * order-r subgroup (the batching argument needs every pairing value in that subgroup).
 */
function parseProof(curve: BnCurve, item: Groth16Item, nPublic: number): ParsedProof | undefined {
  try {
    if (item.publicSignals.length !== nPublic) return undefined;
    const signals = item.publicSignals.map((s) => BigInt(s));
    if (signals.some((s) => s < 0n || s >= FIELD_MODULUS)) return undefined;
    const big = (value: unknown) => utils.unstringifyBigInts(value) as bigint[] & bigint[][];
    const a = curve.G1.fromObject(big(item.proof.pi_a));
    const b = curve.G2.fromObject(big(item.proof.pi_b));
    const c = curve.G1.fromObject(big(item.proof.pi_c));
    if (!curve.G1.isValid(a) || !curve.G2.isValid(b) || !curve.G1.isValid(c)) return undefined;
    if (!curve.G2.isZero(curve.G2.timesScalar(b, FIELD_MODULUS))) return undefined;
    return { a, b, c, signals };
  } catch {
    return undefined;
  }
}

function randomCoefficient(): bigint {
  const bytes = new Uint8Array(16);
  globalThis.crypto.getRandomValues(bytes);
  let value = 0n;
  for (const byte of bytes) value = (value << 8n) | BigInt(byte);
  // Zero would drop a proof from the batch.
  return value === 0n ? 1n : value;
}
