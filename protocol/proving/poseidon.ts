import { Field } from "@noble/curves/abstract/modular";
import { grainGenConstants } from "@noble/curves/abstract/poseidon";
import { InvalidArgumentError } from "../../common/errors.js";
import { FIELD_MODULUS } from "./field.js";
import { compilePoseidonWasm, type PoseidonWasm } from "./poseidon-wasm.js";

/**
 * Poseidon over BN254, the instance circomlib's `Poseidon`/`PoseidonEx` implement: x⁵
 * S-box, 8 full rounds, circomlib's partial-round counts, and round constants and MDS
 * matrices from the reference Grain LFSR. The constants are generated (noble's
 * `grainGenConstants`), never copied by hand; `poseidon.test.ts` checks the result against
 * the published circomlib vector, against noble's textbook permutation at every width and
 * against the compiled circuits.
 *
 * The permutation is evaluated in the optimised form of the Poseidon paper (appendix B,
 * circomlib's `poseidon_opt`): in a partial round only the first element goes through the
 * S-box, so the dense MDS matrix of each partial round factors into a block matrix
 * diag(1, M̂), which commutes with that S-box and is pushed back into the previous round, and
 * a sparse matrix (a full first row, a first column and the identity). A partial round then
 * costs 2t − 1 multiplications instead of t², and products are summed before a single
 * reduction per output element. Same permutation, same outputs; a device hashing a
 * 15,000-record dataset at enrolment spends seconds instead of minutes.
 */

/** Partial rounds for state width t = 2..17, as in circomlib's `poseidon.circom`. */
const PARTIAL_ROUNDS = [56, 57, 56, 60, 60, 63, 64, 63, 60, 66, 60, 65, 70, 60, 64, 68];

export const POSEIDON_MAX_WIDTH = 17;

const P = FIELD_MODULUS;
const HALF_FULL_ROUNDS = 4;
const Fp = Field(FIELD_MODULUS);

/** The permutation of one width, rewritten with sparse partial rounds (see above). */
export interface PoseidonInstance {
  width: number;
  /** Round constants of the 8 full rounds, in order. */
  fullConstants: bigint[][];
  /** The MDS matrix of each full round (the 4th absorbs the partial rounds' block matrix). */
  fullMatrices: bigint[][][];
  /** Transformed round constants of each partial round. */
  partialConstants: bigint[][];
  /** First row of each partial round's sparse matrix. */
  sparseRows: bigint[][];
  /** First column (below the diagonal) of each partial round's sparse matrix. */
  sparseColumns: bigint[][];
}

const instances = new Map<number, PoseidonInstance>();

const mod = (x: bigint): bigint => {
  const r = x % P;
  return r < 0n ? r + P : r;
};

/** a·b for square matrices over the field, as a matrix product (apply b first, then a). */
function multiply(a: bigint[][], b: bigint[][]): bigint[][] {
  const n = a.length;
  return a.map((row) =>
    Array.from({ length: n }, (_, j) => {
      let sum = 0n;
      for (let k = 0; k < n; k++) sum += row[k] * b[k][j];
      return sum % P;
    }),
  );
}

/** The inverse of an invertible square matrix over the field (Gauss–Jordan). */
function invert(matrix: bigint[][]): bigint[][] {
  const n = matrix.length;
  const a = matrix.map((row, i) => [
    ...row,
    ...Array.from({ length: n }, (_, j) => (i === j ? 1n : 0n)),
  ]);
  for (let col = 0; col < n; col++) {
    const pivot = a.findIndex((row, r) => r >= col && row[col] !== 0n);
    if (pivot < 0) throw new Error("Poseidon MDS submatrix is singular");
    [a[col], a[pivot]] = [a[pivot], a[col]];
    const inverse = Fp.inv(a[col][col]);
    a[col] = a[col].map((v) => (v * inverse) % P);
    for (let r = 0; r < n; r++) {
      if (r === col || a[r][col] === 0n) continue;
      const factor = a[r][col];
      a[r] = a[r].map((v, j) => mod(v - factor * a[col][j]));
    }
  }
  return a.map((row) => row.slice(n));
}

function instanceFor(width: number): PoseidonInstance {
  let instance = instances.get(width);
  if (instance) return instance;
  if (!Number.isInteger(width) || width < 2 || width > POSEIDON_MAX_WIDTH) {
    throw new InvalidArgumentError(`Poseidon state width must be 2..17, got ${width}`);
  }
  const roundsPartial = PARTIAL_ROUNDS[width - 2];
  const { roundConstants, mds } = grainGenConstants({
    Fp,
    t: width,
    roundsFull: 2 * HALF_FULL_ROUNDS,
    roundsPartial,
    sboxPower: 5,
  });
  const m = mds.map((row) => row.map(mod));
  const constants = roundConstants.map((row) => row.map(mod));
  // Walk the partial rounds backwards. `pending` is the dense matrix that ends the current
  // partial round: split it into sparse · diag(1, M̂), keep the sparse part in the round and
  // push the block part ahead of the round's S-box (they commute: the block fixes element 0,
  // the S-box touches only element 0) and its constant addition (c becomes block·c), where it
  // joins the previous round's matrix.
  const partialConstants: bigint[][] = new Array(roundsPartial);
  const sparseRows: bigint[][] = new Array(roundsPartial);
  const sparseColumns: bigint[][] = new Array(roundsPartial);
  let pending = m;
  for (let j = roundsPartial - 1; j >= 0; j--) {
    const hat = pending.slice(1).map((row) => row.slice(1));
    const hatInverse = invert(hat);
    const firstRow = pending[0].slice(1);
    // Sparse first row: [a00, a0ᵀ·M̂⁻¹].
    sparseRows[j] = [
      pending[0][0],
      ...Array.from({ length: width - 1 }, (_, k) => {
        let sum = 0n;
        for (let i = 0; i < width - 1; i++) sum += firstRow[i] * hatInverse[i][k];
        return sum % P;
      }),
    ];
    sparseColumns[j] = pending.slice(1).map((row) => row[0]);
    const block = Array.from({ length: width }, (_, i) =>
      Array.from({ length: width }, (_, k) =>
        i === 0 || k === 0 ? (i === k ? 1n : 0n) : hat[i - 1][k - 1],
      ),
    );
    const c = constants[HALF_FULL_ROUNDS + j];
    partialConstants[j] = block.map((row) => {
      let sum = 0n;
      for (let k = 0; k < width; k++) sum += row[k] * c[k];
      return sum % P;
    });
    pending = multiply(block, m);
  }
  const fullConstants = [
    ...constants.slice(0, HALF_FULL_ROUNDS),
    ...constants.slice(HALF_FULL_ROUNDS + roundsPartial),
  ];
  const fullMatrices = Array.from({ length: 2 * HALF_FULL_ROUNDS }, (_, r) =>
    r === HALF_FULL_ROUNDS - 1 ? pending : m,
  );
  instance = {
    width,
    fullConstants,
    fullMatrices,
    partialConstants,
    sparseRows,
    sparseColumns,
  };
  instances.set(width, instance);
  return instance;
}

/** x⁵ mod p. */
function sbox(x: bigint): bigint {
  const x2 = (x * x) % P;
  return (((x2 * x2) % P) * x) % P;
}

/** One full round in place: constants, S-box on every element, dense matrix. */
function fullRound(
  state: bigint[],
  scratch: bigint[],
  constants: bigint[],
  matrix: bigint[][],
): void {
  const t = state.length;
  for (let i = 0; i < t; i++) scratch[i] = sbox(state[i] + constants[i]);
  for (let i = 0; i < t; i++) {
    const row = matrix[i];
    let sum = 0n;
    for (let k = 0; k < t; k++) sum += row[k] * scratch[k];
    state[i] = sum % P;
  }
}

function permuteInPlace(instance: PoseidonInstance, state: bigint[]): void {
  const t = instance.width;
  const scratch: bigint[] = new Array(t);
  for (let r = 0; r < HALF_FULL_ROUNDS; r++) {
    fullRound(state, scratch, instance.fullConstants[r], instance.fullMatrices[r]);
  }
  const { partialConstants, sparseRows, sparseColumns } = instance;
  // Elements 1..t−1 are left unreduced through the partial rounds: each round only adds a
  // product below p² to them, so after ≤ 70 rounds they stay below 2^520, and one reduction of
  // the first row's sum per round replaces t of them (BigInt's % costs several products).
  for (let j = 0; j < partialConstants.length; j++) {
    const c = partialConstants[j];
    const row = sparseRows[j];
    const column = sparseColumns[j];
    const x0 = sbox(state[0] + c[0]);
    let sum = row[0] * x0;
    for (let k = 1; k < t; k++) {
      const xk = state[k] + c[k];
      sum += row[k] * xk;
      state[k] = column[k - 1] * x0 + xk;
    }
    state[0] = sum % P;
  }
  for (let k = 1; k < t; k++) state[k] %= P;
  for (let r = HALF_FULL_ROUNDS; r < 2 * HALF_FULL_ROUNDS; r++) {
    fullRound(state, scratch, instance.fullConstants[r], instance.fullMatrices[r]);
  }
}

/**
 * The width-17 permutation as a self-contained script, for hashing on worker threads (a
 * device hashes its dataset's leaves on every core, client/node/dataset-leaves.ts): the very
 * functions above, by their source text, and the constants to call `permuteInPlace` with.
 */
export function spongePermutationScript(): { source: string; instance: PoseidonInstance } {
  return {
    source: [
      `const P = ${P}n;`,
      `const HALF_FULL_ROUNDS = ${HALF_FULL_ROUNDS};`,
      sbox.toString(),
      fullRound.toString(),
      permuteInPlace.toString(),
    ].join("\n"),
    instance: instanceFor(SPONGE_RATE + 1),
  };
}

const compiled = new Map<number, PoseidonWasm | null>();

/**
 * The permutation of one width compiled to WebAssembly (poseidon-wasm.ts), compiled on first
 * use; undefined where WebAssembly is unavailable, and the BigInt permutation above serves.
 */
export function poseidonWasmPermutation(width: number): PoseidonWasm | undefined {
  let permutation = compiled.get(width);
  if (permutation === undefined) {
    permutation = compilePoseidonWasm(instanceFor(width)) ?? null;
    compiled.set(width, permutation);
  }
  return permutation ?? undefined;
}

function reduced(state: readonly bigint[]): bigint[] {
  const values: bigint[] = new Array(state.length);
  for (let i = 0; i < state.length; i++) {
    const v = state[i];
    if (typeof v !== "bigint") throw new InvalidArgumentError(`invalid bigint=${String(v)}`);
    values[i] = mod(v);
  }
  return values;
}

/** The full Poseidon permutation of a state of width 2..17 (circomlib `PoseidonEx` with every output). */
export function poseidonPermutation(state: readonly bigint[]): bigint[] {
  const instance = instanceFor(state.length);
  const values = reduced(state);
  const wasm = poseidonWasmPermutation(instance.width);
  if (wasm) return wasm.permute(values);
  permuteInPlace(instance, values);
  return values;
}

/** The same permutation in BigInt arithmetic only: the fallback, and a reference for tests. */
export function poseidonPermutationBigInt(state: readonly bigint[]): bigint[] {
  const instance = instanceFor(state.length);
  const values = reduced(state);
  permuteInPlace(instance, values);
  return values;
}

/** circomlib `Poseidon(n)`: the permutation of [0, ...inputs], first element out; 1..16 inputs. */
export function poseidonHash(inputs: readonly bigint[]): bigint {
  if (inputs.length < 1 || inputs.length > POSEIDON_MAX_WIDTH - 1) {
    throw new InvalidArgumentError(`Poseidon takes 1..16 inputs, got ${inputs.length}`);
  }
  return poseidonPermutation([0n, ...inputs])[0];
}

export const SPONGE_RATE = 16;

/**
 * The sponge the circuits use for long inputs: width 17, rate 16, capacity 1, capacity
 * initialised to the number of absorbed elements, last block zero-padded, output the
 * capacity element. Mirrors `PoseidonSponge` in `poseidon-sponge.circom`.
 */
export function poseidonSponge(elements: readonly bigint[]): bigint {
  if (elements.length === 0) throw new InvalidArgumentError("cannot hash an empty sequence");
  const wasm = poseidonWasmPermutation(SPONGE_RATE + 1);
  if (wasm) return wasm.sponge(elements.map(mod));
  const instance = instanceFor(SPONGE_RATE + 1);
  const state: bigint[] = new Array(SPONGE_RATE + 1).fill(0n);
  state[0] = BigInt(elements.length);
  for (let start = 0; start < elements.length; start += SPONGE_RATE) {
    for (let j = 0; j < SPONGE_RATE; j++) {
      const element = elements[start + j];
      if (element !== undefined) state[j + 1] = (state[j + 1] + mod(element)) % P;
    }
    permuteInPlace(instance, state);
  }
  return state[0];
}

/**
 * Hash of a variable-length list whose length the circuit fixes: circomlib's Poseidon for up
 * to 16 elements, the sponge beyond. Mirrors `HashElements` in `poseidon-sponge.circom`.
 */
export function hashElements(elements: readonly bigint[]): bigint {
  return elements.length <= POSEIDON_MAX_WIDTH - 1
    ? poseidonHash(elements)
    : poseidonSponge(elements);
}
