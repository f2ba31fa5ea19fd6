/**
 * Types for the parts of snarkjs and ffjavascript fedproof uses. Neither package ships
 * declarations; these cover only the calls made from circuits/, client/core/proving/,
 * client/node/prove-worker.ts and coordinator/proofs/.
 */

declare module "snarkjs" {
  /** A file path, or an in-memory file (fastfile's `{ type: "mem" }`). */
  export type SnarkjsFile = string | { type: "mem"; data?: Uint8Array };

  export interface SnarkjsLogger {
    debug(message: string): void;
    info(message: string): void;
    warn(message: string): void;
    error(message: string): void;
  }

  /** Groth16 proof in snarkjs JSON: decimal strings, projective coordinates. */
  export interface Groth16Proof {
    pi_a: string[];
    pi_b: string[][];
    pi_c: string[];
    protocol: string;
    curve: string;
  }

  export interface Groth16VerificationKey {
    protocol: string;
    curve: string;
    nPublic: number;
    vk_alpha_1: string[];
    vk_beta_2: string[][];
    vk_gamma_2: string[][];
    vk_delta_2: string[][];
    vk_alphabeta_12?: unknown;
    IC: string[][];
  }

  export type CircuitInput = Record<
    string,
    string | bigint | number | (string | bigint)[] | (string | bigint)[][]
  >;

  export const groth16: {
    fullProve(
      input: CircuitInput,
      wasm: SnarkjsFile,
      zkey: SnarkjsFile,
      logger?: SnarkjsLogger,
    ): Promise<{ proof: Groth16Proof; publicSignals: string[] }>;
    prove(
      zkey: SnarkjsFile,
      witness: SnarkjsFile,
      logger?: SnarkjsLogger,
    ): Promise<{ proof: Groth16Proof; publicSignals: string[] }>;
    verify(
      vkey: Groth16VerificationKey,
      publicSignals: string[],
      proof: Groth16Proof,
      logger?: SnarkjsLogger,
    ): Promise<boolean>;
  };

  export const wtns: {
    calculate(input: CircuitInput, wasm: SnarkjsFile, wtns: SnarkjsFile): Promise<void>;
  };

  export const zKey: {
    newZKey(
      r1cs: SnarkjsFile,
      ptau: SnarkjsFile,
      zkey: SnarkjsFile,
      logger?: SnarkjsLogger,
    ): Promise<Uint8Array>;
    contribute(
      zkeyOld: SnarkjsFile,
      zkeyNew: SnarkjsFile,
      name: string,
      entropy: string,
      logger?: SnarkjsLogger,
    ): Promise<Uint8Array>;
    beacon(
      zkeyOld: SnarkjsFile,
      zkeyNew: SnarkjsFile,
      name: string,
      beaconHashHex: string,
      numIterationsExp: number,
      logger?: SnarkjsLogger,
    ): Promise<Uint8Array>;
    verifyFromR1cs(
      r1cs: SnarkjsFile,
      ptau: SnarkjsFile,
      zkey: SnarkjsFile,
      logger?: SnarkjsLogger,
    ): Promise<boolean>;
    exportVerificationKey(
      zkey: SnarkjsFile,
      logger?: SnarkjsLogger,
    ): Promise<Groth16VerificationKey>;
  };

  export const powersOfTau: {
    preparePhase2(
      oldPtau: SnarkjsFile,
      newPtau: SnarkjsFile,
      logger?: SnarkjsLogger,
    ): Promise<void>;
  };

  export const r1cs: {
    info(
      r1cs: SnarkjsFile,
      logger?: SnarkjsLogger,
    ): Promise<{
      nConstraints: number;
      nVars: number;
      nOutputs: number;
      nPubInputs: number;
      nPrvInputs: number;
    }>;
  };
}

declare module "ffjavascript" {
  /** Points and field elements are little-endian Montgomery byte buffers. */
  export interface WasmGroup {
    F: { n8: number };
    g: Uint8Array;
    gAffine: Uint8Array;
    zero: Uint8Array;
    zeroAffine: Uint8Array;
    add(a: Uint8Array, b: Uint8Array): Uint8Array;
    neg(a: Uint8Array): Uint8Array;
    eq(a: Uint8Array, b: Uint8Array): boolean;
    isZero(a: Uint8Array): boolean;
    /** On the curve (no subgroup check). */
    isValid(a: Uint8Array): boolean;
    timesScalar(a: Uint8Array, s: Uint8Array | bigint): Uint8Array;
    toAffine(a: Uint8Array): Uint8Array;
    fromObject(o: bigint[] | bigint[][]): Uint8Array;
    toObject(a: Uint8Array): bigint[] | bigint[][];
    multiExpAffine(
      points: Uint8Array,
      scalars: Uint8Array,
      logger?: unknown,
      name?: string,
    ): Promise<Uint8Array>;
    batchLEMtoU(buffer: Uint8Array): Promise<Uint8Array>;
  }

  export interface WasmField {
    n8: number;
    one: Uint8Array;
    e(value: bigint | number | string): Uint8Array;
    toObject(a: Uint8Array): bigint;
    mul(a: Uint8Array, b: Uint8Array): Uint8Array;
    w: Uint8Array[];
  }

  export interface ThreadManager {
    concurrency: number;
    alloc(length: number): number;
    setBuff(pointer: number, buffer: Uint8Array): void;
    getBuff(pointer: number, length: number): Uint8Array;
    instance: { exports: Record<string, (...args: number[]) => number> };
    u8?: Uint8Array;
    memory: WebAssembly.Memory;
  }

  export interface BnCurve {
    name: string;
    q: bigint;
    r: bigint;
    G1: WasmGroup;
    G2: WasmGroup;
    Fr: WasmField;
    tm: ThreadManager;
    pairingEq(...points: Uint8Array[]): Promise<boolean>;
    terminate(): Promise<void>;
  }

  export function getCurveFromName(name: string, singleThread?: boolean): Promise<BnCurve>;
  export function buildBn128(singleThread?: boolean): Promise<BnCurve>;

  export const utils: {
    unstringifyBigInts(value: unknown): unknown;
    stringifyBigInts(value: unknown): unknown;
  };
}

// ejs (the template engine snarkjs renders its Solidity verifiers with) ships no types.
declare module "ejs" {
  const ejs: { render(template: string, data: object): string };
  export default ejs;
}
