import { InvalidArgumentError } from "../common/errors.js";
import { DATA_VALIDITY_SIGNAL_NAMES } from "../protocol/proofs/public-signals.js";
import type { DataValidityParameters } from "../protocol/proving/data-validity-parameters.js";
import { checkDataValidityParameters } from "../protocol/proving/data-validity-parameters.js";
import {
  checkUpdateNormParameters,
  type UpdateNormParameters,
  valuesPerElement,
} from "../protocol/proving/update-norm-parameters.js";

/** One circuit fedproof can build: a template plus its compile-time parameters. */
export type CircuitSpec =
  | ({ kind: "update-norm" } & UpdateNormParameters)
  | ({ kind: "data-validity" } & DataValidityParameters);

/** Human-readable, parameter-complete name, e.g. `update-norm-n3345-b16`. */
export function circuitName(spec: CircuitSpec): string {
  if (spec.kind === "update-norm") return `update-norm-n${spec.n}-b${spec.bits}`;
  const attesters = spec.attesterDepth > 0 ? `-ad${spec.attesterDepth}` : "";
  return `data-validity-d${spec.depth}-f${spec.features}-k${spec.samples}-fb${spec.featureBits}-lb${spec.labelBits}${attesters}`;
}

/** The circom `main` for a spec; the template sources are included from `circuits/`. */
export function mainSource(spec: CircuitSpec): string {
  if (spec.kind === "update-norm") {
    checkUpdateNormParameters(spec);
    return [
      "pragma circom 2.1.0;",
      'include "update-norm.circom";',
      `component main {public [context, c2, sumBefore, kzgChallenge]} = UpdateNormChunk(${spec.n}, ${spec.bits});`,
      "",
    ].join("\n");
  }
  checkDataValidityParameters(spec);
  return [
    "pragma circom 2.1.0;",
    'include "data-validity.circom";',
    `component main {public [${DATA_VALIDITY_SIGNAL_NAMES.join(", ")}]} = ` +
      `DataValidity(${spec.depth}, ${spec.features}, ${spec.samples}, ${spec.featureBits}, ${spec.labelBits}, ${spec.attesterDepth});`,
    "",
  ].join("\n");
}

/** The circom template files a spec compiles from (hashed into the artifact cache key). */
export function templateFiles(spec: CircuitSpec): string[] {
  const own = spec.kind === "update-norm" ? "update-norm.circom" : "data-validity.circom";
  return [own, "poseidon-sponge.circom"];
}

/** Constraint budget of a 2^16 domain, less room for snarkjs's one extra row per public input. */
const DOMAIN_2_16_BUDGET = 65_536 - 16;

/**
 * Constraints of UpdateNormChunk(n, bits), from its structure: `bits` per value (range
 * check), one per pair of values (sum of squares), 612 per Poseidon sponge block of 16
 * field elements (the salt, the two KZG blinding values and the packed values), n + 1 for
 * the KZG evaluation (Horner), and a fixed 3·(2·bits + 32) + 3 for the running bound and the
 * context. `circuit-catalog.test.ts` checks it against the compiler's count.
 */
export function estimateUpdateNormConstraints(parameters: UpdateNormParameters): number {
  const { n, bits } = parameters;
  const elements = Math.ceil(n / valuesPerElement(bits)) + ABSORBED_AHEAD;
  const blocks = Math.ceil(elements / 16);
  return n * bits + Math.ceil(n / 2) + 612 * blocks + (n + 1) + 3 * (2 * bits + 32) + 3;
}

/** Field elements the chunk sponge absorbs ahead of the packed values: salt, ρ0, ρ1. */
export const ABSORBED_AHEAD = 3;

/** Values in a chunk of k whole sponge blocks: ⌊253/bits⌋ · (16k − ABSORBED_AHEAD). */
export function wholeBlockChunkSize(bits: number, blocks: number): number {
  return valuesPerElement(bits) * (16 * blocks - ABSORBED_AHEAD);
}

/**
 * The production chunk size for a bit width: the largest n that (a) fills the last sponge
 * block exactly (n = ⌊253/bits⌋ · (16k − 3) values plus the salt and the two KZG blinding
 * values make 16k field elements)
 * and (b) keeps the circuit inside a 2^16 evaluation domain. 2^16 bounds the proving key at
 * ~40 MB and one chunk's proof at a few seconds; a larger domain doubles both for no
 * per-parameter gain, since every chunk costs the same per value.
 */
export function productionChunkSize(bits: number): number {
  checkUpdateNormParameters({ n: 1, bits });
  let best = 0;
  for (let k = 1; ; k++) {
    const n = wholeBlockChunkSize(bits, k);
    if (estimateUpdateNormConstraints({ n, bits }) > DOMAIN_2_16_BUDGET) break;
    best = n;
  }
  if (best === 0)
    throw new InvalidArgumentError(`no UpdateNorm chunk fits a 2^16 domain at ${bits} bits`);
  return best;
}

/** The chunk circuit production jobs use at `bits`. */
export function updateNormCircuit(bits: number): CircuitSpec {
  return { kind: "update-norm", n: productionChunkSize(bits), bits };
}

/**
 * Records a DataValidity proof opens by default: at k = 8 a dataset with half its records
 * invalid passes one round with probability (1/2)^8 = 1/256 (see spotCheckSoundnessError and
 * circuits/README.md for the table).
 */
export const DEFAULT_SPOT_CHECKS = 8;

export interface DataValidityCircuitOptions {
  /** Features per record (the product of the schema's feature shape). */
  features: number;
  /** Bits of a stored feature (max − min in integer units must fit); default 8 (bytes, pixels). */
  featureBits?: number;
  /** log2 of the most records a device may commit to; default 16 (65,536). */
  depth?: number;
  /** Records opened per round (k); default DEFAULT_SPOT_CHECKS = 8. */
  samples?: number;
  /** Default 8 (up to 256 classes). */
  labelBits?: number;
  /**
   * Attester tree depth; default 0 (no attester check, self-attested data only). Jobs that
   * name attesters use DEFAULT_ATTESTER_DEPTH (10) or the depth their set needs.
   */
  attesterDepth?: number;
}

/**
 * The DataValidity circuit for a record shape. Its size is about
 * k·(2·featureBits·features + 1,100 + 243·depth + 612·(sponge blocks of the leaf − ½)) + 4,760
 * (the device's EdDSA check, the nullifier, the count and schema checks), plus
 * 4,450 + 243·attesterDepth with an attester check (measured: benchmarks/proofs.ts
 * --data-validity). Fashion-MNIST's 784 byte features at depth 16 cost ~18.5k constraints per
 * opened record: k = 2 fits a 2^16 domain, the default k = 8 (~153k) needs 2^18. Narrow
 * records (tabular, sensor readings) stay small at any k.
 */
export function dataValidityCircuit(options: DataValidityCircuitOptions): CircuitSpec {
  return {
    kind: "data-validity",
    depth: options.depth ?? 16,
    features: options.features,
    samples: options.samples ?? DEFAULT_SPOT_CHECKS,
    featureBits: options.featureBits ?? 8,
    labelBits: options.labelBits ?? 8,
    attesterDepth: options.attesterDepth ?? 0,
  };
}

/** Small circuits for tests and CI: same templates, sizes that build in seconds. */
export const TEST_CIRCUITS = {
  updateNorm: { kind: "update-norm", n: 64, bits: 16 },
  dataValidity: {
    kind: "data-validity",
    depth: 6,
    features: 8,
    samples: 2,
    featureBits: 8,
    labelBits: 8,
    attesterDepth: 2,
  },
} as const satisfies Record<string, CircuitSpec>;
