import { sha256 } from "@noble/hashes/sha2";
import { bytesToHex } from "@noble/hashes/utils";
import { type BnCurve, getCurveFromName } from "ffjavascript";
import { InvalidArgumentError } from "../../common/errors.js";
import { FIELD_MODULUS } from "./field.js";

/**
 * KZG polynomial commitments over BN254 (Kate–Zaverucha–Goldberg), on the powers of τ of the
 * same snarkjs powers-of-tau file the Groth16 keys come from. A vector of field elements
 * a_0..a_d is the polynomial p(X) = Σ a_j·X^j; its commitment is C = [p(τ)]G1 = Σ a_j·[τ^j]G1,
 * one multi-scalar multiplication over the SRS. An opening at x is v = p(x) and
 * π = [q(τ)]G1 with q(X) = (p(X) − v)/(X − x); it verifies when
 *
 *   e(C − v·G1, G2) = e(π, [τ]G2 − x·G2)   ⇔   e(C − v·G1 + x·π, G2) · e(−π, [τ]G2) = 1.
 *
 * Commitments are additively homomorphic (Σ w_i·C_i commits to Σ w_i·p_i), which is what
 * lets a verifier check a round's aggregate without seeing one update. How chunks of an
 * update are committed and tied to the UpdateNorm proof, and why that is sound and hiding,
 * is in circuits/README.md ("KZG contribution commitments").
 *
 * Encodings (all big-endian, no flags; the point at infinity is all zero bytes, which is
 * not on either curve, so it cannot be confused with a point):
 * - G1: x ‖ y, 32 bytes each (64 bytes; `G1Hex` = "0x" + 128 hex characters).
 * - G2 ([τ]G2 in the SRS): x.c1 ‖ x.c0 ‖ y.c1 ‖ y.c0, 32 bytes each (128 bytes), with
 *   x = x.c0 + x.c1·u over Fp2 = Fp[u]/(u² + 1). This is ffjavascript's uncompressed order
 *   and the order of the EVM pairing precompile (EIP-197): imaginary part first.
 *
 * Pure: no Node built-ins (readSrsFromPtau loads its file reader on demand).
 */

/** Structured reference string: the first `size` powers [τ^i]G1 and [τ]G2 of a powers-of-tau. */
export interface KzgSrs {
  readonly size: number;
  /** size points, 64 bytes each: affine x ‖ y, each 32-byte big-endian (uncompressed, no flag). */
  readonly g1: Uint8Array;
  /** [τ]G2 affine: x.c1 ‖ x.c0 ‖ y.c1 ‖ y.c0, each 32-byte big-endian (EIP-197 order). */
  readonly g2Tau: Uint8Array;
}

/** Point encoding everywhere else (commitments, openings): "0x" + 128 hex chars = x ‖ y big-endian. */
export type G1Hex = `0x${string}`;

export interface KzgOpening {
  commitment: G1Hex;
  x: bigint;
  value: bigint;
  proof: G1Hex;
}

/** Reduces any integer, negative ones included, to its representative in [0, r). */
export function toField(value: bigint): bigint {
  const reduced = value % FIELD_MODULUS;
  return reduced < 0n ? reduced + FIELD_MODULUS : reduced;
}

declare module "ffjavascript" {
  interface WasmGroup {
    /** Big-endian affine x ‖ y (no flag checks) to LEM affine. */
    fromRprUncompressed(buffer: Uint8Array, offset: number): Uint8Array;
    /** Any point to big-endian affine x ‖ y at `offset`. */
    toRprUncompressed(buffer: Uint8Array, offset: number, point: Uint8Array): void;
    batchUtoLEM(buffer: Uint8Array): Promise<Uint8Array>;
  }
}

/** BN254's base field modulus p (coordinates live in [0, p)). */
const P = 21888242871839275222246405745257275088696311157297823662689037894645226208583n;
const R = FIELD_MODULUS;
const HALF_R = R >> 1n;
const G1_BYTES = 64;
const G2_BYTES = 128;
const SRS_MAGIC = new TextEncoder().encode("FPKZGSR1");
const SRS_HEADER = SRS_MAGIC.length + 4;
/**
 * Scalars whose signed representative (c or c − r) is below 2^SMALL_SCALAR_BITS go through
 * a short-scalar MSM: quantised values, weights and their aggregates are small integers
 * (negative ones are r − |q|, full width as field elements), and a Pippenger MSM's cost is
 * proportional to the scalar width.
 */
const SMALL_SCALAR_BITS = 128;

// Fp2 = Fp[u]/(u² + 1); the twist is y² = x³ + 3/(9 + u), and 1/(9 + u) = (9 − u)/82.
const INV_82 = modPow(82n, P - 2n, P);
const TWIST_B: Fp2 = [(27n * INV_82) % P, (P - ((3n * INV_82) % P)) % P];
type Fp2 = [c0: bigint, c1: bigint];

/** The BN254 curve snarkjs uses (ffjavascript caches one multi-threaded instance per process). */
async function bn128(): Promise<BnCurve> {
  return getCurveFromName("bn128");
}

// ---------------------------------------------------------------------------------------
// Encodings

/** Throws InvalidArgumentError unless `value` is a canonical element of the scalar field. */
function checkScalar(value: bigint, what: string): void {
  if (typeof value !== "bigint" || value < 0n || value >= R) {
    throw new InvalidArgumentError(
      `${what} must be a field element in [0, r), got ${String(value).slice(0, 80)} (map signed integers with toField)`,
    );
  }
}

function readBigEndian(bytes: Uint8Array, offset: number): bigint {
  return BigInt(`0x${bytesToHex(bytes.subarray(offset, offset + 32))}`);
}

function isZeroBytes(bytes: Uint8Array, offset: number, length: number): boolean {
  for (let i = offset; i < offset + length; i++) if (bytes[i] !== 0) return false;
  return true;
}

/**
 * Checks one big-endian G1 point: coordinates below p and on y² = x³ + 3 (G1 has cofactor 1,
 * so on the curve means in the group). Returns false for the all-zero point at infinity.
 */
function checkG1Bytes(bytes: Uint8Array, offset: number, what: string): boolean {
  if (isZeroBytes(bytes, offset, G1_BYTES)) return false;
  const x = readBigEndian(bytes, offset);
  const y = readBigEndian(bytes, offset + 32);
  if (x >= P || y >= P) {
    throw new InvalidArgumentError(`${what}: a coordinate is not below the BN254 base field p`);
  }
  if ((y * y - (x * x * x + 3n)) % P !== 0n) {
    throw new InvalidArgumentError(`${what} is not on the BN254 G1 curve`);
  }
  return true;
}

function fp2Mul(a: Fp2, b: Fp2): Fp2 {
  return [(a[0] * b[0] - a[1] * b[1]) % P, (a[0] * b[1] + a[1] * b[0]) % P];
}

/** [τ]G2 in EIP-197 order: coordinates below p and on the twist (the subgroup is checked on first use). */
function checkG2Bytes(bytes: Uint8Array, what: string): void {
  if (bytes.length !== G2_BYTES) {
    throw new InvalidArgumentError(`${what} must be ${G2_BYTES} bytes, got ${bytes.length}`);
  }
  if (isZeroBytes(bytes, 0, G2_BYTES)) {
    throw new InvalidArgumentError(`${what} is the point at infinity`);
  }
  const [x1, x0, y1, y0] = [0, 32, 64, 96].map((o) => readBigEndian(bytes, o));
  if ([x0, x1, y0, y1].some((c) => c >= P)) {
    throw new InvalidArgumentError(`${what}: a coordinate is not below the BN254 base field p`);
  }
  const x: Fp2 = [x0, x1];
  const y: Fp2 = [y0, y1];
  const x3 = fp2Mul(fp2Mul(x, x), x);
  const y2 = fp2Mul(y, y);
  if ((y2[0] - x3[0] - TWIST_B[0]) % P !== 0n || (y2[1] - x3[1] - TWIST_B[1]) % P !== 0n) {
    throw new InvalidArgumentError(`${what} is not on the BN254 G2 twist`);
  }
}

/** Length, coordinates, curve membership, no infinity, and point 0 = the G1 generator. */
function validateSrs(srs: KzgSrs): void {
  if (!Number.isSafeInteger(srs.size) || srs.size < 1) {
    throw new InvalidArgumentError(`SRS size must be a positive integer, got ${srs.size}`);
  }
  if (!(srs.g1 instanceof Uint8Array) || srs.g1.length !== srs.size * G1_BYTES) {
    throw new InvalidArgumentError(
      `SRS G1 powers must be ${srs.size} × ${G1_BYTES} bytes, got ${srs.g1?.length}`,
    );
  }
  checkG2Bytes(srs.g2Tau, "SRS [τ]G2");
  for (let i = 0; i < srs.size; i++) {
    if (!checkG1Bytes(srs.g1, i * G1_BYTES, `SRS point ${i}`)) {
      throw new InvalidArgumentError(`SRS point ${i} is the point at infinity`);
    }
  }
  if (readBigEndian(srs.g1, 0) !== 1n || readBigEndian(srs.g1, 32) !== 2n) {
    throw new InvalidArgumentError("SRS point 0 is not the BN254 G1 generator (1, 2)");
  }
}

/** Serialises an SRS: "FPKZGSR1" ‖ size (u32 big-endian) ‖ [τ]G2 (128 bytes) ‖ size × 64 bytes of G1. */
export function encodeSrs(srs: KzgSrs): Uint8Array {
  validateSrs(srs);
  const out = new Uint8Array(SRS_HEADER + G2_BYTES + srs.g1.length);
  out.set(SRS_MAGIC, 0);
  new DataView(out.buffer).setUint32(SRS_MAGIC.length, srs.size, false);
  out.set(srs.g2Tau, SRS_HEADER);
  out.set(srs.g1, SRS_HEADER + G2_BYTES);
  return out;
}

/** Parses encodeSrs's format; refuses a wrong magic or length and any point off its curve. */
export function decodeSrs(bytes: Uint8Array): KzgSrs {
  if (bytes.length < SRS_HEADER + G2_BYTES) {
    throw new InvalidArgumentError(`an encoded SRS is at least 140 bytes, got ${bytes.length}`);
  }
  for (let i = 0; i < SRS_MAGIC.length; i++) {
    if (bytes[i] !== SRS_MAGIC[i]) {
      throw new InvalidArgumentError('not an encoded KZG SRS (no "FPKZGSR1" magic)');
    }
  }
  const size = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(
    SRS_MAGIC.length,
    false,
  );
  const expected = SRS_HEADER + G2_BYTES + size * G1_BYTES;
  if (bytes.length !== expected) {
    throw new InvalidArgumentError(
      `an encoded SRS of ${size} points is ${expected} bytes, got ${bytes.length}`,
    );
  }
  const srs: KzgSrs = {
    size,
    g2Tau: bytes.slice(SRS_HEADER, SRS_HEADER + G2_BYTES),
    g1: bytes.slice(SRS_HEADER + G2_BYTES),
  };
  validateSrs(srs);
  return srs;
}

/** SHA-256 of encodeSrs(srs), 0x-hex: what a job pins so every party commits over the same powers. */
export function srsHash(srs: KzgSrs): `0x${string}` {
  return `0x${bytesToHex(sha256(encodeSrs(srs)))}`;
}

function hexToG1Bytes(point: G1Hex, what: string): Uint8Array {
  if (typeof point !== "string" || !/^0x[0-9a-fA-F]{128}$/.test(point)) {
    throw new InvalidArgumentError(
      `${what} must be "0x" and 128 hex characters (64-byte G1 point), got ${String(point).slice(0, 40)}${String(point).length > 40 ? "…" : ""} (${String(point).length} characters)`,
    );
  }
  const bytes = new Uint8Array(G1_BYTES);
  for (let i = 0; i < G1_BYTES; i++) {
    bytes[i] = Number.parseInt(point.slice(2 + 2 * i, 4 + 2 * i), 16);
  }
  return bytes;
}

/** G1Hex to ffjavascript's LEM affine form, checking the encoding. */
function decodeG1(curve: BnCurve, point: G1Hex, what: string): Uint8Array {
  const bytes = hexToG1Bytes(point, what);
  if (!checkG1Bytes(bytes, 0, what)) return curve.G1.zeroAffine;
  return curve.G1.fromRprUncompressed(bytes, 0);
}

function encodeG1(curve: BnCurve, point: Uint8Array): G1Hex {
  if (curve.G1.isZero(point)) return `0x${"0".repeat(128)}`;
  const bytes = new Uint8Array(G1_BYTES);
  curve.G1.toRprUncompressed(bytes, 0, point);
  return `0x${bytesToHex(bytes)}`;
}

// ---------------------------------------------------------------------------------------
// SRS in ffjavascript's form, cached per SRS object

interface PreparedSrs {
  /** size × 64 bytes, LEM affine: what multiExpAffine takes. */
  g1: Uint8Array;
  /** [τ]G2, LEM affine. */
  g2Tau: Uint8Array;
}

const prepared = new WeakMap<KzgSrs, Promise<PreparedSrs>>();

/**
 * Validates an SRS once and converts it to the curve library's form. Cached by object
 * identity: an SRS is treated as immutable once used.
 */
function prepare(curve: BnCurve, srs: KzgSrs): Promise<PreparedSrs> {
  let entry = prepared.get(srs);
  if (!entry) {
    entry = (async () => {
      validateSrs(srs);
      const g2Tau = curve.G2.fromRprUncompressed(srs.g2Tau, 0);
      // G2 has a large cofactor: a point on the twist outside the order-r subgroup would
      // make the pairing equation mean something other than p(τ) − v = q(τ)(τ − x).
      if (!curve.G2.isZero(curve.G2.timesScalar(g2Tau, R))) {
        throw new InvalidArgumentError("SRS [τ]G2 is not in the order-r subgroup of G2");
      }
      return { g1: await curve.G1.batchUtoLEM(srs.g1), g2Tau };
    })();
    prepared.set(srs, entry);
    entry.catch(() => prepared.delete(srs));
  }
  return entry;
}

// ---------------------------------------------------------------------------------------
// Multi-scalar multiplication

/** p as 32 little-endian bytes, for negating a LEM affine point (y_M ↦ p − y_M). */
const P_LE = (() => {
  const out = new Uint8Array(32);
  let v = P;
  for (let i = 0; i < 32; i++) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
})();

/** Writes −point (LEM affine, not infinity) at `offset`: Montgomery form commutes with negation. */
function writeNegated(out: Uint8Array, offset: number, point: Uint8Array, at: number): void {
  out.set(point.subarray(at, at + 32), offset);
  let borrow = 0;
  for (let i = 0; i < 32; i++) {
    const d = P_LE[i] - point[at + 32 + i] - borrow;
    borrow = d < 0 ? 1 : 0;
    out[offset + 32 + i] = d & 0xff;
  }
}

function writeScalar(view: DataView, offset: number, scalar: bigint, n8: number): void {
  let s = scalar;
  for (let b = 0; b < n8; b += 4) {
    view.setUint32(offset + b, Number(s & 0xffffffffn), true);
    s >>= 32n;
  }
}

/**
 * Σ scalars[i]·bases[i] over LEM affine bases (scalars in [0, r)). Small signed scalars
 * (quantised values, weights) go through one short-scalar MSM, negative ones against the
 * negated base; the rest through a full-width one.
 */
async function msm(
  curve: BnCurve,
  bases: Uint8Array,
  scalars: readonly bigint[],
): Promise<Uint8Array> {
  const small: { index: number; magnitude: bigint; negative: boolean }[] = [];
  const large: number[] = [];
  let maxSmall = 0n;
  for (let i = 0; i < scalars.length; i++) {
    const s = scalars[i];
    if (s === 0n) continue;
    const negative = s > HALF_R;
    const magnitude = negative ? R - s : s;
    if (magnitude >> BigInt(SMALL_SCALAR_BITS) === 0n) {
      small.push({ index: i, magnitude, negative });
      if (magnitude > maxSmall) maxSmall = magnitude;
    } else {
      large.push(i);
    }
  }
  let result = curve.G1.zero;
  if (small.length > 0) {
    const n8 = Math.ceil(maxSmall.toString(16).length / 8) * 4;
    const points = new Uint8Array(small.length * G1_BYTES);
    const exponents = new Uint8Array(small.length * n8);
    const view = new DataView(exponents.buffer);
    for (let k = 0; k < small.length; k++) {
      const { index, magnitude, negative } = small[k];
      if (negative) writeNegated(points, k * G1_BYTES, bases, index * G1_BYTES);
      else points.set(bases.subarray(index * G1_BYTES, (index + 1) * G1_BYTES), k * G1_BYTES);
      writeScalar(view, k * n8, magnitude, n8);
    }
    result = curve.G1.add(result, await curve.G1.multiExpAffine(points, exponents));
  }
  if (large.length > 0) {
    const points = new Uint8Array(large.length * G1_BYTES);
    const exponents = new Uint8Array(large.length * 32);
    const view = new DataView(exponents.buffer);
    for (let k = 0; k < large.length; k++) {
      const index = large[k];
      points.set(bases.subarray(index * G1_BYTES, (index + 1) * G1_BYTES), k * G1_BYTES);
      writeScalar(view, k * 32, scalars[index], 32);
    }
    result = curve.G1.add(result, await curve.G1.multiExpAffine(points, exponents));
  }
  return result;
}

// ---------------------------------------------------------------------------------------
// Commit, open, verify

function checkCoefficients(srs: KzgSrs, coefficients: readonly bigint[]): void {
  if (coefficients.length > srs.size) {
    throw new InvalidArgumentError(
      `${coefficients.length} coefficients do not fit an SRS of ${srs.size} powers`,
    );
  }
  for (let i = 0; i < coefficients.length; i++) checkScalar(coefficients[i], `coefficient ${i}`);
}

/** C = Σ a_j·[τ^j]G1 for coefficients a_j in [0, r). */
export async function kzgCommit(srs: KzgSrs, coefficients: readonly bigint[]): Promise<G1Hex> {
  checkCoefficients(srs, coefficients);
  const curve = await bn128();
  const { g1 } = await prepare(curve, srs);
  return encodeG1(curve, await msm(curve, g1, coefficients));
}

/** p(x) = Σ a_j·x^j mod r (Horner); coefficients and x must be field elements in [0, r). */
export function evaluatePolynomial(coefficients: readonly bigint[], x: bigint): bigint {
  checkScalar(x, "evaluation point x");
  let value = 0n;
  for (let i = coefficients.length - 1; i >= 0; i--) {
    checkScalar(coefficients[i], `coefficient ${i}`);
    value = (value * x + coefficients[i]) % R;
  }
  return value;
}

/**
 * Opens the commitment of `coefficients` at x: value = p(x) and proof = commit(q) with
 * q(X) = (p(X) − p(x))/(X − x), the quotient of synthetic division by (X − x).
 */
export async function kzgOpen(
  srs: KzgSrs,
  coefficients: readonly bigint[],
  x: bigint,
): Promise<{ value: bigint; proof: G1Hex }> {
  checkCoefficients(srs, coefficients);
  checkScalar(x, "evaluation point x");
  const d = coefficients.length - 1;
  if (d < 0) return { value: 0n, proof: `0x${"0".repeat(128)}` };
  // Horner's running values are the quotient's coefficients: q_{j−1} = a_j + x·q_j.
  const quotient: bigint[] = new Array(d);
  let carry = coefficients[d];
  for (let j = d - 1; j >= 0; j--) {
    quotient[j] = carry;
    carry = (coefficients[j] + x * carry) % R;
  }
  const curve = await bn128();
  const { g1 } = await prepare(curve, srs);
  return { value: carry, proof: encodeG1(curve, await msm(curve, g1, quotient)) };
}

interface DecodedOpening {
  commitment: Uint8Array;
  proof: Uint8Array;
  x: bigint;
  value: bigint;
}

function decodeOpening(curve: BnCurve, opening: KzgOpening, what: string): DecodedOpening {
  checkScalar(opening.x, `${what}: x`);
  checkScalar(opening.value, `${what}: value`);
  return {
    commitment: decodeG1(curve, opening.commitment, `${what}: commitment`),
    proof: decodeG1(curve, opening.proof, `${what}: proof`),
    x: opening.x,
    value: opening.value,
  };
}

/** e(C − v·G1 + x·π, G2) · e(−π, [τ]G2) = 1. Throws on a malformed opening, false on a wrong one. */
export async function kzgVerify(srs: KzgSrs, opening: KzgOpening): Promise<boolean> {
  const curve = await bn128();
  const decoded = decodeOpening(curve, opening, "KZG opening");
  const { g2Tau } = await prepare(curve, srs);
  const { G1 } = curve;
  const left = G1.add(
    G1.add(decoded.commitment, G1.timesScalar(G1.g, (R - decoded.value) % R)),
    G1.timesScalar(decoded.proof, decoded.x),
  );
  return curve.pairingEq(left, curve.G2.gAffine, G1.neg(decoded.proof), g2Tau);
}

/**
 * Many openings with one multi-pairing. Each opening k satisfies
 * e(C_k − v_k·G1 + x_k·π_k, G2) = e(π_k, [τ]G2); raising equation k to a fresh random 128-bit
 * ρ_k and multiplying gives
 *
 *   e(Σ ρ_k·C_k + Σ ρ_k·x_k·π_k − (Σ ρ_k·v_k)·G1, G2) · e(−Σ ρ_k·π_k, [τ]G2) = 1,
 *
 * two MSMs and two Miller loops for any number of openings. Pairing values lie in the
 * order-r group GT, so if some equation fails by a factor g^(e_k) ≠ 1 the product is 1 only
 * when Σ ρ_k·e_k ≡ 0 (mod r): probability at most 2^−128 over the ρ_k, which the prover
 * never sees.
 */
export async function kzgVerifyBatch(
  srs: KzgSrs,
  openings: readonly KzgOpening[],
): Promise<boolean> {
  if (openings.length === 0) return true;
  if (openings.length === 1) return kzgVerify(srs, openings[0]);
  const curve = await bn128();
  const decoded = openings.map((o, k) => decodeOpening(curve, o, `KZG opening ${k}`));
  const { g2Tau } = await prepare(curve, srs);
  const m = decoded.length;
  const rho = decoded.map(() => randomCoefficient());
  const leftBases = new Uint8Array((2 * m + 1) * G1_BYTES);
  const rightBases = new Uint8Array(m * G1_BYTES);
  const leftScalars: bigint[] = new Array(2 * m + 1);
  let valueSum = 0n;
  for (let k = 0; k < m; k++) {
    const { commitment, proof, x, value } = decoded[k];
    leftBases.set(commitment, k * G1_BYTES);
    leftBases.set(proof, (m + k) * G1_BYTES);
    rightBases.set(proof, k * G1_BYTES);
    leftScalars[k] = rho[k];
    leftScalars[m + k] = (rho[k] * x) % R;
    valueSum = (valueSum + rho[k] * value) % R;
  }
  leftBases.set(curve.G1.gAffine, 2 * m * G1_BYTES);
  leftScalars[2 * m] = (R - valueSum) % R;
  const left = await msm(curve, leftBases, leftScalars);
  const right = await msm(curve, rightBases, rho);
  return curve.pairingEq(left, curve.G2.gAffine, curve.G1.neg(right), g2Tau);
}

/** Σ scalars[i]·points[i], scalars taken mod r (negative integers allowed). */
export async function kzgLinearCombination(
  points: readonly G1Hex[],
  scalars: readonly bigint[],
): Promise<G1Hex> {
  if (points.length !== scalars.length) {
    throw new InvalidArgumentError(
      `a linear combination needs one scalar per point: ${points.length} points, ${scalars.length} scalars`,
    );
  }
  const curve = await bn128();
  const bases = new Uint8Array(points.length * G1_BYTES);
  const reduced: bigint[] = new Array(points.length);
  for (let i = 0; i < points.length; i++) {
    const point = decodeG1(curve, points[i], `point ${i}`);
    // The point at infinity contributes nothing; a zero scalar makes msm skip it.
    reduced[i] = curve.G1.isZero(point) ? 0n : toField(scalars[i]);
    if (reduced[i] !== 0n) bases.set(point, i * G1_BYTES);
  }
  return encodeG1(curve, await msm(curve, bases, reduced));
}

// ---------------------------------------------------------------------------------------
// Reading the SRS from a snarkjs powers-of-tau file

/**
 * The first `size` powers [τ^i]G1 and [τ]G2 of a snarkjs `.ptau` file (sections 2 and 3,
 * stored LEM affine). Checks what one pairing can: point 0 is the G1 generator, the first G2
 * point the G2 generator, and e([τ]G1, G2) = e(G1, [τ]G2), so [τ]G2 belongs to the same τ as
 * the G1 powers. (The ceremony's own `powersoftau verify` checks every power.)
 */
export async function readSrsFromPtau(ptauPath: string, size: number): Promise<KzgSrs> {
  if (!Number.isSafeInteger(size) || size < 1) {
    throw new InvalidArgumentError(`SRS size must be a positive integer, got ${size}`);
  }
  const { readPtauPowers } = await import("./kzg-srs.js");
  const powers = await readPtauPowers(ptauPath, Math.max(size, 2));
  const curve = await bn128();
  const g1All = await curve.G1.batchLEMtoU(powers.tauG1);
  const g2Generator = powers.tauG2.slice(0, G2_BYTES);
  const g2TauLem = powers.tauG2.slice(G2_BYTES, 2 * G2_BYTES);
  if (!curve.G2.eq(g2Generator, curve.G2.gAffine)) {
    throw new InvalidArgumentError(`ptau file ${ptauPath}: tauG2 point 0 is not the G2 generator`);
  }
  const g2Tau = new Uint8Array(G2_BYTES);
  curve.G2.toRprUncompressed(g2Tau, 0, g2TauLem);
  const srs: KzgSrs = { size, g1: g1All.slice(0, size * G1_BYTES), g2Tau };
  validateSrs({ size: Math.max(size, 2), g1: g1All, g2Tau });
  const tauG1 = powers.tauG1.slice(G1_BYTES, 2 * G1_BYTES);
  const consistent = await curve.pairingEq(
    tauG1,
    curve.G2.gAffine,
    curve.G1.neg(curve.G1.gAffine),
    g2TauLem,
  );
  if (!consistent) {
    throw new InvalidArgumentError(
      `ptau file ${ptauPath}: [τ]G1 and [τ]G2 belong to different τ (e([τ]G1, G2) ≠ e(G1, [τ]G2))`,
    );
  }
  return srs;
}

// ---------------------------------------------------------------------------------------

function randomCoefficient(): bigint {
  const bytes = new Uint8Array(16);
  globalThis.crypto.getRandomValues(bytes);
  let value = 0n;
  for (const byte of bytes) value = (value << 8n) | BigInt(byte);
  // Zero would drop an opening from the batch.
  return value === 0n ? 1n : value;
}

function modPow(base: bigint, exponent: bigint, modulus: bigint): bigint {
  let result = 1n;
  let b = base % modulus;
  let e = exponent;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % modulus;
    b = (b * b) % modulus;
    e >>= 1n;
  }
  return result;
}
