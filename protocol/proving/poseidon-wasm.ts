/**
 * Poseidon's permutation (protocol/proving/poseidon.ts, same constants, same sparse partial
 * rounds) compiled to WebAssembly. JavaScript's BigInt allocates on every product and reduces
 * with a long division, ~2.5 ms of CPU per width-17 permutation; here an element is eight 32-bit
 * limbs in Montgomery form (R = 2^256) multiplied with 64-bit products (CIOS), so a device
 * hashing its dataset's 15,000 records at enrolment spends seconds of CPU instead of a minute.
 *
 * The module is generated here, byte by byte, rather than shipped: its only inputs are the field
 * modulus and the round constants poseidon.ts derives, so it cannot drift from them, and nothing
 * generated is committed. Its code is the permutation unrolled (one call per field operation, at
 * constant addresses) and its data segment holds the constants in Montgomery form; a module
 * compiled once can be instantiated in any worker thread. Where WebAssembly is missing or
 * refuses the module, `poseidonWasm` returns undefined and callers use the BigInt permutation.
 */
import { FIELD_MODULUS } from "./field.js";
import type { PoseidonInstance } from "./poseidon.js";

/** The constants of one width, as poseidon.ts derives them (a type-only import: no cycle). */
type PoseidonWasmInstance = PoseidonInstance;

const P = FIELD_MODULUS;
/** Limb width: 29-bit limbs leave products (< 2^58) room to be summed without carrying. */
const W = 29;
const LIMBS = 9;
const ELEMENT_BYTES = 4 * LIMBS;
const MASK = (1n << BigInt(W)) - 1n;
/** R = 2^261 > 4p, so a Montgomery product of two reduced elements is below 2p. */
const R = (1n << BigInt(W * LIMBS)) % P;
const R2 = (R * R) % P;
const limbOf = (value: bigint, j: number): bigint => (value >> BigInt(W * j)) & MASK;

// Fixed addresses of the scratch elements; the state, the sbox'd state and the constants follow.
const ONE = 0;
const MONTGOMERY_R2 = ELEMENT_BYTES;
const T1 = 2 * ELEMENT_BYTES;
const T2 = 3 * ELEMENT_BYTES;
const T3 = 4 * ELEMENT_BYTES;
const T4 = 5 * ELEMENT_BYTES;
const PRODUCT = 6 * ELEMENT_BYTES;
/** Where callers write the element to convert (`toMontgomery`, `fromMontgomery`). */
export const POSEIDON_WASM_IO = 7 * ELEMENT_BYTES;
/** The state, `width` elements in Montgomery form, that `permute` transforms in place. */
export const POSEIDON_WASM_STATE = 8 * ELEMENT_BYTES;

/** −p⁻¹ mod 2^W, the Montgomery reduction's per-limb factor (Newton's iteration). */
function montgomeryFactor(): bigint {
  const p0 = P & MASK;
  let inverse = 1n;
  for (let i = 0; i < 5; i++) inverse = (inverse * (2n - p0 * inverse)) & MASK;
  return -inverse & MASK;
}

const unsignedLeb = (value: number): number[] => {
  const bytes: number[] = [];
  do {
    let byte = value & 0x7f;
    value >>>= 7;
    if (value !== 0) byte |= 0x80;
    bytes.push(byte);
  } while (value !== 0);
  return bytes;
};

const signedLeb = (input: bigint): number[] => {
  const bytes: number[] = [];
  let value = input;
  for (;;) {
    const byte = Number(value & 0x7fn);
    value >>= 7n;
    const done = (value === 0n && (byte & 0x40) === 0) || (value === -1n && (byte & 0x40) !== 0);
    bytes.push(done ? byte : byte | 0x80);
    if (done) return bytes;
  }
};

const OP = {
  end: 0x0b,
  call: 0x10,
  select: 0x1b,
  localGet: 0x20,
  localSet: 0x21,
  localTee: 0x22,
  i64Load32U: 0x35,
  i64Store32: 0x3e,
  i32Const: 0x41,
  i64Const: 0x42,
  i32WrapI64: 0xa7,
  i64Add: 0x7c,
  i64Sub: 0x7d,
  i64Mul: 0x7e,
  i64And: 0x83,
  i64ShrU: 0x88,
} as const;

/** A function body: locals declared up front, then the instructions. */
class Body {
  readonly code: number[] = [];
  constructor(private readonly i64Locals: number) {}
  get = (local: number) => this.code.push(OP.localGet, ...unsignedLeb(local));
  set = (local: number) => this.code.push(OP.localSet, ...unsignedLeb(local));
  tee = (local: number) => this.code.push(OP.localTee, ...unsignedLeb(local));
  i32 = (value: number) => this.code.push(OP.i32Const, ...signedLeb(BigInt(value)));
  i64 = (value: bigint) => this.code.push(OP.i64Const, ...signedLeb(value));
  op = (...ops: number[]) => this.code.push(...ops);
  /** i64.load32_u / i64.store32 of limb `limb` at the address on the stack (align 4). */
  loadLimb = (limb: number) => this.code.push(OP.i64Load32U, 2, ...unsignedLeb(4 * limb));
  storeLimb = (limb: number) => this.code.push(OP.i64Store32, 2, ...unsignedLeb(4 * limb));
  bytes(): number[] {
    const locals = this.i64Locals > 0 ? [1, ...unsignedLeb(this.i64Locals), 0x7e] : [0];
    const body = [...locals, ...this.code, OP.end];
    return [...unsignedLeb(body.length), ...body];
  }
}

/**
 * Stores t (normalised limbs in locals `t`) minus p if that does not borrow, else t, at the
 * address in local 2: the final conditional subtraction of a sum or a Montgomery product, both
 * below 2p. `d` are scratch locals.
 */
function reduceAndStore(f: Body, t: number[], d: number[], borrow: number, x: number): void {
  f.i64(0n);
  f.set(borrow);
  for (let j = 0; j < LIMBS; j++) {
    f.get(t[j]!);
    f.i64(limbOf(P, j));
    f.op(OP.i64Sub);
    f.get(borrow);
    f.op(OP.i64Sub);
    f.tee(x);
    f.i64(MASK);
    f.op(OP.i64And);
    f.set(d[j]!);
    // The difference is in (−2^30, 2^29): its sign bit is the borrow.
    f.get(x);
    f.i64(63n);
    f.op(OP.i64ShrU);
    f.set(borrow);
  }
  for (let j = 0; j < LIMBS; j++) {
    f.get(2);
    f.get(t[j]!);
    f.get(d[j]!);
    f.get(borrow);
    f.op(OP.i32WrapI64, OP.select);
    f.storeLimb(j);
  }
}

/** Normalises the limbs `t` in place (carry each one's excess W bits into the next). */
function carryThrough(f: Body, t: number[], carry: number): void {
  for (let j = 0; j < LIMBS; j++) {
    f.get(t[j]!);
    if (j > 0) {
      f.get(carry);
      f.op(OP.i64Add);
    }
    f.tee(t[j]!);
    f.i64(BigInt(W));
    f.op(OP.i64ShrU);
    f.set(carry);
    f.get(t[j]!);
    f.i64(MASK);
    f.op(OP.i64And);
    f.set(t[j]!);
  }
}

/**
 * mul(a, b, r): r = a·b·R⁻¹ mod p; r may alias a or b. Montgomery multiplication, operand
 * scanning with delayed carries: every product of two 29-bit limbs is below 2^58, and a limb of
 * the running sum gains at most two of them (plus a carry below 2^35) per outer step, so after
 * all nine steps it stays below 2^63 and the carries are propagated once, at the end.
 */
function montgomeryMul(): Body {
  // Locals: 0..2 the pointers; then b0..b8, t0..t8, d0..d8, ai, q, carry, x (i64).
  const f = new Body(3 * LIMBS + 4);
  const b = Array.from({ length: LIMBS }, (_, j) => 3 + j);
  const t = Array.from({ length: LIMBS }, (_, j) => 3 + LIMBS + j);
  const d = Array.from({ length: LIMBS }, (_, j) => 3 + 2 * LIMBS + j);
  const ai = 3 + 3 * LIMBS;
  const q = ai + 1;
  const carry = ai + 2;
  const x = ai + 3;
  const factor = montgomeryFactor();
  for (let j = 0; j < LIMBS; j++) {
    f.get(1);
    f.loadLimb(j);
    f.set(b[j]!);
  }
  for (let i = 0; i < LIMBS; i++) {
    f.get(0);
    f.loadLimb(i);
    f.set(ai);
    // x = t0 + ai·b0; q = x·(−p⁻¹) mod 2^W makes x + q·p0 divisible by 2^W.
    f.get(t[0]!);
    f.get(ai);
    f.get(b[0]!);
    f.op(OP.i64Mul, OP.i64Add);
    f.tee(x);
    f.i64(factor);
    f.op(OP.i64Mul);
    f.i64(MASK);
    f.op(OP.i64And);
    f.tee(q);
    f.i64(limbOf(P, 0));
    f.op(OP.i64Mul);
    f.get(x);
    f.op(OP.i64Add);
    f.i64(BigInt(W));
    f.op(OP.i64ShrU);
    f.set(carry);
    // Shift down one limb while adding ai·b_j + q·p_j: t_{j−1} = t_j + ai·b_j + q·p_j.
    for (let j = 1; j < LIMBS; j++) {
      f.get(t[j]!);
      f.get(ai);
      f.get(b[j]!);
      f.op(OP.i64Mul, OP.i64Add);
      f.get(q);
      f.i64(limbOf(P, j));
      f.op(OP.i64Mul, OP.i64Add);
      if (j === 1) {
        f.get(carry);
        f.op(OP.i64Add);
      }
      f.set(t[j - 1]!);
    }
    f.i64(0n);
    f.set(t[LIMBS - 1]!);
  }
  carryThrough(f, t, carry);
  // a, b < p and R > 4p, so the product is below 2p: one subtraction reduces it.
  reduceAndStore(f, t, d, carry, x);
  return f;
}

/** add(a, b, r): r = a + b mod p; r may alias a or b. */
function modularAdd(): Body {
  const f = new Body(2 * LIMBS + 2);
  const t = Array.from({ length: LIMBS }, (_, j) => 3 + j);
  const d = Array.from({ length: LIMBS }, (_, j) => 3 + LIMBS + j);
  const carry = 3 + 2 * LIMBS;
  const x = carry + 1;
  for (let j = 0; j < LIMBS; j++) {
    f.get(0);
    f.loadLimb(j);
    f.get(1);
    f.loadLimb(j);
    f.op(OP.i64Add);
    f.set(t[j]!);
  }
  carryThrough(f, t, carry);
  // a + b < 2p < 2^(W·LIMBS): no carry out of the top limb.
  reduceAndStore(f, t, d, carry, x);
  return f;
}

const MUL = 0;
const ADD = 1;

/** Where each constant of the instance lives in the data segment. */
function layout(instance: PoseidonWasmInstance) {
  const t = instance.width;
  const xs = POSEIDON_WASM_STATE + t * ELEMENT_BYTES;
  let next = xs + t * ELEMENT_BYTES;
  const values: bigint[] = [];
  const place = (v: bigint): number => {
    const address = next;
    values.push(v);
    next += ELEMENT_BYTES;
    return address;
  };
  const fullConstants = instance.fullConstants.map((row) => row.map(place));
  const fullMatrices = instance.fullMatrices.map((m) => m.map((row) => row.map(place)));
  const partialConstants = instance.partialConstants.map((row) => row.map(place));
  const sparseRows = instance.sparseRows.map((row) => row.map(place));
  const sparseColumns = instance.sparseColumns.map((row) => row.map(place));
  return {
    xs,
    constantsStart: xs + t * ELEMENT_BYTES,
    values,
    end: next,
    fullConstants,
    fullMatrices,
    partialConstants,
    sparseRows,
    sparseColumns,
  };
}

/** permute(): the state at POSEIDON_WASM_STATE, in place; the mirror of poseidon.ts's permuteInPlace. */
function permutation(instance: PoseidonWasmInstance, at: ReturnType<typeof layout>): Body {
  const f = new Body(0);
  const t = instance.width;
  const state = (i: number) => POSEIDON_WASM_STATE + i * ELEMENT_BYTES;
  const sboxed = (i: number) => at.xs + i * ELEMENT_BYTES;
  const call = (fn: number, a: number, b: number, r: number) => {
    f.i32(a);
    f.i32(b);
    f.i32(r);
    f.op(OP.call, fn);
  };
  // r = x⁵, through T1 and T2; r must be neither.
  const sbox = (x: number, r: number) => {
    call(MUL, x, x, T1);
    call(MUL, T1, T1, T2);
    call(MUL, T2, x, r);
  };
  const fullRound = (r: number) => {
    for (let i = 0; i < t; i++) {
      call(ADD, state(i), at.fullConstants[r]![i]!, T3);
      sbox(T3, sboxed(i));
    }
    const matrix = at.fullMatrices[r]!;
    for (let i = 0; i < t; i++) {
      call(MUL, matrix[i]![0]!, sboxed(0), state(i));
      for (let k = 1; k < t; k++) {
        call(MUL, matrix[i]![k]!, sboxed(k), PRODUCT);
        call(ADD, state(i), PRODUCT, state(i));
      }
    }
  };
  for (let r = 0; r < 4; r++) fullRound(r);
  for (let j = 0; j < instance.partialConstants.length; j++) {
    const c = at.partialConstants[j]!;
    const row = at.sparseRows[j]!;
    const column = at.sparseColumns[j]!;
    call(ADD, state(0), c[0]!, T3);
    sbox(T3, sboxed(0));
    call(MUL, row[0]!, sboxed(0), state(0));
    for (let k = 1; k < t; k++) {
      call(ADD, state(k), c[k]!, T4);
      call(MUL, row[k]!, T4, PRODUCT);
      call(ADD, state(0), PRODUCT, state(0));
      call(MUL, column[k - 1]!, sboxed(0), PRODUCT);
      call(ADD, PRODUCT, T4, state(k));
    }
  }
  for (let r = 4; r < 8; r++) fullRound(r);
  return f;
}

/** toMontgomery() / fromMontgomery(): the element at POSEIDON_WASM_IO, in place. */
function convert(factor: number): Body {
  const f = new Body(0);
  f.i32(POSEIDON_WASM_IO);
  f.i32(factor);
  f.i32(POSEIDON_WASM_IO);
  f.op(OP.call, MUL);
  return f;
}

const section = (id: number, content: number[]) => [id, ...unsignedLeb(content.length), ...content];
const vector = (items: number[][]) => [...unsignedLeb(items.length), ...items.flat()];
const name = (text: string) => [
  ...unsignedLeb(text.length),
  ...Array.from(text, (c) => c.charCodeAt(0)),
];

function elementBytes(value: bigint): number[] {
  const bytes: number[] = [];
  for (let j = 0; j < LIMBS; j++) {
    const limb = Number(limbOf(value, j));
    bytes.push(limb & 0xff, (limb >>> 8) & 0xff, (limb >>> 16) & 0xff, limb >>> 24);
  }
  return bytes;
}

/** The module's bytes for one state width: exports memory, mul, add, permute and the conversions. */
export function poseidonWasmBytes(instance: PoseidonWasmInstance): Uint8Array {
  const at = layout(instance);
  const pages = Math.ceil(at.end / 65_536);
  const functions = [
    { type: 0, body: montgomeryMul() },
    { type: 0, body: modularAdd() },
    { type: 1, body: permutation(instance, at) },
    { type: 1, body: convert(MONTGOMERY_R2) },
    { type: 1, body: convert(ONE) },
  ];
  const i32 = 0x7f;
  const data = [
    ...elementBytes(1n),
    ...elementBytes(R2),
    ...new Array(at.constantsStart - 2 * ELEMENT_BYTES).fill(0),
    ...at.values.flatMap((v) => elementBytes((v * R) % P)),
  ];
  const bytes = [
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(
      1,
      vector([
        [0x60, 3, i32, i32, i32, 0],
        [0x60, 0, 0],
      ]),
    ),
    ...section(3, vector(functions.map((fn) => [fn.type]))),
    ...section(5, vector([[0x00, ...unsignedLeb(pages)]])),
    ...section(
      7,
      vector([
        [...name("memory"), 0x02, 0],
        [...name("mul"), 0x00, MUL],
        [...name("add"), 0x00, ADD],
        [...name("permute"), 0x00, 2],
        [...name("toMontgomery"), 0x00, 3],
        [...name("fromMontgomery"), 0x00, 4],
      ]),
    ),
    ...section(10, vector(functions.map((fn) => fn.body.bytes()))),
    ...section(
      11,
      vector([[0x00, OP.i32Const, ...signedLeb(0n), OP.end, ...unsignedLeb(data.length), ...data]]),
    ),
  ];
  return Uint8Array.from(bytes);
}

/** A compiled WebAssembly module: opaque here, cloneable to worker threads. */
export type WasmModule = object;

/**
 * The part of the WebAssembly JS API used here, typed locally: the project's `lib` (ES2023,
 * no DOM) does not declare it, and the global exists in Node and in browsers alike.
 */
interface WasmApi {
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule) => { exports: unknown };
}

/** The exports of an instantiated permutation module. */
export interface PoseidonWasmExports {
  memory: { buffer: ArrayBuffer };
  /** r = a + b mod p at byte addresses a, b, r. */
  add(a: number, b: number, r: number): void;
  permute(): void;
  toMontgomery(): void;
  fromMontgomery(): void;
}

/** One instantiated permutation of a fixed width, with BigInt helpers around its memory. */
export interface PoseidonWasm {
  width: number;
  /** The compiled module, to instantiate again elsewhere (a worker thread). */
  module: WasmModule;
  /** The permutation of a reduced state of `width` elements. */
  permute(state: readonly bigint[]): bigint[];
  /** poseidon.ts's `poseidonSponge` of reduced elements (width 17 only). */
  sponge(elements: readonly bigint[]): bigint;
}

/**
 * The memory layout the helpers below need, for a script that runs them by their source text
 * (client/node/dataset-leaves.ts hashes leaves on worker threads with them).
 */
export const POSEIDON_WASM_SCRIPT_CONSTANTS = `const LIMBS = ${LIMBS};
const ELEMENT_BYTES = ${ELEMENT_BYTES};
const POSEIDON_WASM_IO = ${POSEIDON_WASM_IO};
const POSEIDON_WASM_STATE = ${POSEIDON_WASM_STATE};`;

/**
 * Writes a reduced element (0 ≤ v < p) into memory at byte `address` as nine 29-bit limbs, one
 * per 32-bit word.
 */
export function writeElement(words: Uint32Array, address: number, value: bigint): void {
  const at = address / 4;
  // Three BigInt steps of 87 bits, each split into three limbs: fewer BigInt operations.
  let v = value;
  for (let part = 0; part < 3; part++) {
    let chunk = BigInt.asUintN(87, v);
    v >>= 87n;
    for (let j = 0; j < 3; j++) {
      words[at + 3 * part + j] = Number(chunk & 0x1fffffffn);
      chunk >>= 29n;
    }
  }
}

export function readElement(words: Uint32Array, address: number): bigint {
  const at = address / 4;
  let value = 0n;
  for (let j = LIMBS - 1; j >= 0; j--) value = (value << 29n) | BigInt(words[at + j]!);
  return value;
}

/** Sets state element i to the reduced value v, in Montgomery form. */
export function loadStateElement(
  exports: PoseidonWasmExports,
  words: Uint32Array,
  i: number,
  v: bigint,
): void {
  writeElement(words, POSEIDON_WASM_IO, v);
  exports.toMontgomery();
  const to = (POSEIDON_WASM_STATE + i * ELEMENT_BYTES) / 4;
  words.copyWithin(to, POSEIDON_WASM_IO / 4, POSEIDON_WASM_IO / 4 + LIMBS);
}

/** State element i, out of Montgomery form. */
export function readStateElement(
  exports: PoseidonWasmExports,
  words: Uint32Array,
  i: number,
): bigint {
  const from = (POSEIDON_WASM_STATE + i * ELEMENT_BYTES) / 4;
  words.copyWithin(POSEIDON_WASM_IO / 4, from, from + LIMBS);
  exports.fromMontgomery();
  return readElement(words, POSEIDON_WASM_IO);
}

/**
 * poseidon.ts's sponge (width 17, rate 16, capacity = length, zero padding, capacity out) on a
 * width-17 module's state; elements must be reduced.
 */
export function spongeWasm(
  exports: PoseidonWasmExports,
  words: Uint32Array,
  elements: readonly bigint[],
): bigint {
  words.fill(0, POSEIDON_WASM_STATE / 4, (POSEIDON_WASM_STATE + 17 * ELEMENT_BYTES) / 4);
  loadStateElement(exports, words, 0, BigInt(elements.length));
  for (let start = 0; start < elements.length; start += 16) {
    for (let j = 0; j < 16 && start + j < elements.length; j++) {
      writeElement(words, POSEIDON_WASM_IO, elements[start + j]!);
      exports.toMontgomery();
      const at = POSEIDON_WASM_STATE + (j + 1) * ELEMENT_BYTES;
      exports.add(at, POSEIDON_WASM_IO, at);
    }
    exports.permute();
  }
  return readStateElement(exports, words, 0);
}

/**
 * Compiles and instantiates the permutation of one instance; undefined where WebAssembly is
 * missing or refuses the module (a browser's main thread may refuse to compile a large module
 * synchronously): callers then use the BigInt permutation.
 */
export function compilePoseidonWasm(instance: PoseidonWasmInstance): PoseidonWasm | undefined {
  const api = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  if (!api) return undefined;
  let module: WasmModule;
  try {
    module = new api.Module(poseidonWasmBytes(instance));
  } catch {
    return undefined;
  }
  const width = instance.width;
  const exports = new api.Instance(module).exports as PoseidonWasmExports;
  const words = new Uint32Array(exports.memory.buffer);
  return {
    width,
    module,
    permute(state) {
      for (let i = 0; i < width; i++) loadStateElement(exports, words, i, state[i]!);
      exports.permute();
      return Array.from({ length: width }, (_, i) => readStateElement(exports, words, i));
    },
    sponge(elements) {
      if (width !== 17) throw new Error("the sponge runs on the width-17 permutation");
      return spongeWasm(exports, words, elements);
    },
  };
}
