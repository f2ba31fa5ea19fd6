import type { BnCurve } from "ffjavascript";
import { FIELD_MODULUS } from "../protocol/proving/field.js";

export type GroupName = "G1" | "G2";

const WINDOW_BITS = 8;
const WINDOWS = 32; // 32 windows of 8 bits cover any scalar below 2^256.
const WASM_PAGE = 65536;

/**
 * Many scalar multiples k·B of one fixed base B, on ffjavascript's WebAssembly curve code.
 *
 * ffjavascript's `timesScalar` is a double-and-add over all 254 bits (about 0.4 ms per G1
 * point here). With B fixed, a table of d·2^(8w)·B for every byte value d and window w turns
 * each multiple into at most 32 mixed additions, about 10× faster; that is what makes the
 * development powers of tau (hundreds of thousands of points) a matter of seconds.
 *
 * Works on its own single-threaded curve instance and grows that instance's memory, so it
 * never disturbs the curve snarkjs shares between calls.
 */
export class FixedBaseMultiplier {
  private readonly exports: Record<string, (...args: number[]) => number>;
  private readonly affineSize: number;
  private readonly jacobianSize: number;
  private readonly prefix: string;
  private readonly tablePointer: number;
  private readonly batchCapacity: number;
  private readonly accumulatorPointer: number;
  private readonly affinePointer: number;

  private constructor(
    private readonly curve: BnCurve,
    group: GroupName,
    base: Uint8Array,
    batchCapacity: number,
  ) {
    const g = curve[group];
    this.exports = curve.tm.instance.exports;
    this.prefix = group === "G1" ? "g1m" : "g2m";
    this.affineSize = g.F.n8 * 2;
    this.jacobianSize = g.F.n8 * 3;
    this.batchCapacity = batchCapacity;
    const entries = 1 << WINDOW_BITS;
    const tableBytes = WINDOWS * entries * this.affineSize;
    const scratchJacobian = entries * this.jacobianSize;
    const batchBytes = batchCapacity * (this.jacobianSize + this.affineSize);
    const start = this.reserve(
      tableBytes + scratchJacobian + batchBytes + 4 * this.jacobianSize,
      // Batch affine conversion takes its scratch space above the allocator's free pointer.
      2 * Math.max(entries, batchCapacity) * this.jacobianSize,
    );
    this.tablePointer = start;
    const scratchPointer = start + tableBytes;
    this.accumulatorPointer = scratchPointer + scratchJacobian;
    this.affinePointer = this.accumulatorPointer + batchCapacity * this.jacobianSize;
    const windowBase = this.affinePointer + batchCapacity * this.affineSize;
    this.buildTable(base, scratchPointer, windowBase);
  }

  /** `base` is an affine point in ffjavascript's Montgomery layout (as stored in ptau/zkey files). */
  static async create(
    curve: BnCurve,
    group: GroupName,
    base: Uint8Array,
    batchCapacity = 4096,
  ): Promise<FixedBaseMultiplier> {
    return new FixedBaseMultiplier(curve, group, base, batchCapacity);
  }

  /** k·B for each scalar (any integers; reduced modulo the group order), as affine points back to back. */
  multiply(scalars: readonly bigint[]): Uint8Array {
    const out = new Uint8Array(scalars.length * this.affineSize);
    const entries = 1 << WINDOW_BITS;
    const add = this.exports[`${this.prefix}_addMixed`];
    const zero = this.exports[`${this.prefix}_zero`];
    const toAffine = this.exports[`${this.prefix}_batchToAffine`];
    for (let start = 0; start < scalars.length; start += this.batchCapacity) {
      const count = Math.min(this.batchCapacity, scalars.length - start);
      for (let i = 0; i < count; i++) {
        const accumulator = this.accumulatorPointer + i * this.jacobianSize;
        zero(accumulator);
        let scalar = reduce(scalars[start + i]);
        for (let w = 0; w < WINDOWS && scalar !== 0n; w++) {
          const digit = Number(scalar & 0xffn);
          scalar >>= 8n;
          if (digit !== 0) {
            add(
              accumulator,
              this.tablePointer + (w * entries + digit) * this.affineSize,
              accumulator,
            );
          }
        }
      }
      toAffine(this.accumulatorPointer, count, this.affinePointer);
      out.set(
        this.memory().subarray(this.affinePointer, this.affinePointer + count * this.affineSize),
        start * this.affineSize,
      );
    }
    return out;
  }

  private memory(): Uint8Array {
    return new Uint8Array(this.curve.tm.memory.buffer);
  }

  /**
   * Bump-allocates from the curve's allocator and grows the WebAssembly memory to hold it
   * plus `headroom` bytes of scratch space for the WebAssembly routines themselves.
   */
  private reserve(bytes: number, headroom: number): number {
    const pointer = this.curve.tm.alloc(bytes);
    const needed = pointer + bytes + headroom - this.curve.tm.memory.buffer.byteLength;
    if (needed > 0) this.curve.tm.memory.grow(Math.ceil(needed / WASM_PAGE));
    // ffjavascript caches typed views of its memory; growing detaches them.
    const tm = this.curve.tm as unknown as { u8: Uint8Array; u32: Uint32Array };
    tm.u8 = new Uint8Array(this.curve.tm.memory.buffer);
    tm.u32 = new Uint32Array(this.curve.tm.memory.buffer);
    return pointer;
  }

  private buildTable(base: Uint8Array, scratch: number, windowBase: number): void {
    const entries = 1 << WINDOW_BITS;
    const e = this.exports;
    const p = this.prefix;
    const memory = () => this.memory();
    // windowBase holds B·2^(8w) in Jacobian form.
    memory().set(base, scratch);
    e[`${p}_toJacobian`](scratch, windowBase);
    for (let w = 0; w < WINDOWS; w++) {
      // scratch[d] = d · windowBase for d = 0..255 (entry 0 is the unused zero).
      e[`${p}_zero`](scratch);
      for (let d = 1; d < entries; d++) {
        e[`${p}_add`](
          scratch + (d - 1) * this.jacobianSize,
          windowBase,
          scratch + d * this.jacobianSize,
        );
      }
      e[`${p}_batchToAffine`](scratch, entries, this.tablePointer + w * entries * this.affineSize);
      // Next window base: 256 · windowBase = 255 · windowBase + windowBase.
      e[`${p}_add`](scratch + (entries - 1) * this.jacobianSize, windowBase, windowBase);
    }
  }
}

function reduce(scalar: bigint): bigint {
  const r = scalar % FIELD_MODULUS;
  return r < 0n ? r + FIELD_MODULUS : r;
}
