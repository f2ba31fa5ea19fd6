import { InvalidArgumentError } from "../../common/errors.js";
import type { Dataset } from "../data/dataset.js";
import type { DatasetAttestation } from "./attester-set.js";
import {
  checkDataValidityParameters,
  type DataValidityParameters,
} from "./data-validity-parameters.js";
import {
  type BabyJubjubPublicKey,
  derivePublicKey,
  type EddsaPoseidonSignature,
  signPoseidon,
  verifyPoseidon,
} from "./eddsa-poseidon.js";
import { hashElements, poseidonHash } from "./poseidon.js";
import { packValues } from "./update-commitment.js";

/**
 * One record as the DataValidity circuit sees it: integer feature values stored relative to
 * the schema minimum (value = round(feature·scale) − round(min·scale)), and a label.
 */
export interface DatasetRecord {
  values: readonly bigint[];
  label: number;
}

/** How float features map to the circuit's integers. */
export interface FeatureEncoding {
  /** Integer units per feature unit (255 for [0, 1] pixels, 1 for raw bytes). */
  featureScale: number;
  /** Schema bounds, in feature units. */
  min: number;
  max: number;
}

/** The schema bounds as circuit integers: the public `featureMin`/`featureMax` signals. */
export function schemaBounds(encoding: FeatureEncoding): {
  featureMin: bigint;
  featureMax: bigint;
} {
  const { featureScale, min, max } = encoding;
  if (!(featureScale > 0) || !Number.isFinite(min) || !Number.isFinite(max) || min > max) {
    throw new InvalidArgumentError(
      `invalid feature encoding: scale ${featureScale}, range [${min}, ${max}]`,
    );
  }
  // Rounding is monotone, so min ≤ x ≤ max implies round(min·s) ≤ round(x·s) ≤ round(max·s).
  return {
    featureMin: BigInt(Math.round(min * featureScale)),
    featureMax: BigInt(Math.round(max * featureScale)),
  };
}

/** Encodes one float record. Values outside the schema stay outside: the proof will refuse them. */
export function encodeRecord(
  features: ArrayLike<number>,
  label: number,
  encoding: FeatureEncoding,
): DatasetRecord {
  return recordEncoder(encoding)(features, label);
}

/** Schema ranges up to this many integer values share one table of their encoded BigInts. */
const ENCODING_TABLE_LIMIT = 1 << 16;

/**
 * `encodeRecord` for many records of one encoding. Converting every feature to a BigInt is
 * most of encoding's cost (784 per Fashion-MNIST record); a schema's in-range values are few
 * (256 for byte pixels), so their encoded BigInts are made once and looked up.
 */
function recordEncoder(
  encoding: FeatureEncoding,
): (features: ArrayLike<number>, label: number) => DatasetRecord {
  const { featureMin, featureMax } = schemaBounds(encoding);
  const scale = encoding.featureScale;
  const low = Number(featureMin);
  const span = Number(featureMax - featureMin);
  const table =
    span < ENCODING_TABLE_LIMIT ? Array.from({ length: span + 1 }, (_, k) => BigInt(k)) : [];
  return (features, label) => {
    const values: bigint[] = new Array(features.length);
    for (let i = 0; i < features.length; i++) {
      const integer = Math.round(features[i] * scale);
      values[i] = table[integer - low] ?? BigInt(integer) - featureMin;
    }
    return { values, label };
  };
}

/** Every record of a dataset, encoded as the circuit stores it (what a device commits to). */
export function encodeDataset(data: Dataset, encoding: FeatureEncoding): DatasetRecord[] {
  const width = data.x.length / data.size;
  const encode = recordEncoder(encoding);
  return Array.from({ length: data.size }, (_, i) =>
    encode(data.x.subarray(i * width, (i + 1) * width), data.y[i]!),
  );
}

/** Leaf hash: HashElements([label, packed values...]), as the circuit computes it. */
export function recordLeaf(record: DatasetRecord, parameters: DataValidityParameters): bigint {
  return hashElements(recordLeafElements(record, parameters));
}

/** What a record's leaf hashes: [label, packed values...]. */
export function recordLeafElements(
  record: DatasetRecord,
  parameters: DataValidityParameters,
): bigint[] {
  if (record.values.length !== parameters.features) {
    throw new InvalidArgumentError(
      `a record has ${record.values.length} features, the circuit expects ${parameters.features}`,
    );
  }
  const limit = 1n << BigInt(parameters.featureBits);
  // A negative or oversized value cannot be packed without ambiguity; map it to one the
  // circuit's range check rejects, so a bad record still fails at proving time, not here.
  const values = record.values.map((v) => (v < 0n || v >= limit ? limit - 1n : v));
  return [BigInt(record.label), ...packValues(values, parameters.featureBits)];
}

/** A Poseidon Merkle tree; unused leaves are 0 and whole empty subtrees hash to `zeros[level]`. */
export interface MerkleTree {
  depth: number;
  /** layers[0] are the leaves actually present; layers[depth] = [root]. */
  layers: bigint[][];
  zeros: bigint[];
  root: bigint;
}

export function buildMerkleTree(leaves: readonly bigint[], depth: number): MerkleTree {
  if (leaves.length > 2 ** depth) {
    throw new InvalidArgumentError(`${leaves.length} records do not fit a tree of depth ${depth}`);
  }
  const zeros: bigint[] = [0n];
  for (let l = 0; l < depth; l++) zeros.push(poseidonHash([zeros[l], zeros[l]]));
  const layers: bigint[][] = [[...leaves]];
  for (let l = 0; l < depth; l++) {
    const below = layers[l];
    const above: bigint[] = [];
    for (let i = 0; i < below.length; i += 2) {
      above.push(poseidonHash([below[i], i + 1 < below.length ? below[i + 1] : zeros[l]]));
    }
    layers.push(above);
  }
  const root = layers[depth][0] ?? zeros[depth];
  return { depth, layers, zeros, root };
}

/** The sibling hashes from leaf `index` up to the root. */
export function merkleSiblings(tree: MerkleTree, index: number): bigint[] {
  const siblings: bigint[] = [];
  let position = index;
  for (let l = 0; l < tree.depth; l++) {
    const sibling = position ^ 1;
    siblings.push(tree.layers[l][sibling] ?? tree.zeros[l]);
    position >>= 1;
  }
  return siblings;
}

/** Poseidon(root, sampleCount): what the device registers and signs at enrolment. */
export function datasetCommitment(root: bigint, sampleCount: number): bigint {
  return poseidonHash([root, BigInt(sampleCount)]);
}

/**
 * Poseidon(jobScope, root, sampleCount): the DataValidity proof's public nullifier, one value
 * per dataset and job (jobScope = idToField(jobId)). Derived from the dataset, not the device
 * key, so many keys enrolling one attested dataset in one job all show the same value.
 */
export function datasetNullifier(jobScope: bigint, root: bigint, sampleCount: number): bigint {
  return poseidonHash([jobScope, root, BigInt(sampleCount)]);
}

/** The record indices a context selects: (low 64 bits of Poseidon(context, s)) mod sampleCount. */
export function sampledIndices(context: bigint, sampleCount: number, samples: number): number[] {
  if (!Number.isSafeInteger(sampleCount) || sampleCount < 1) {
    throw new InvalidArgumentError(`sample count must be a positive integer, got ${sampleCount}`);
  }
  const indices: number[] = [];
  for (let s = 0; s < samples; s++) {
    const low = poseidonHash([context, BigInt(s)]) & ((1n << 64n) - 1n);
    indices.push(Number(low % BigInt(sampleCount)));
  }
  return indices;
}

/** A device's committed, signed dataset: prepared once at enrolment, used every round. */
export interface CommittedDataset {
  parameters: DataValidityParameters;
  records: readonly DatasetRecord[];
  tree: MerkleTree;
  sampleCount: number;
  commitment: bigint;
  publicKey: BabyJubjubPublicKey;
  signature: EddsaPoseidonSignature;
  /** An attester's signature over the same commitment, for jobs that name attesters. */
  attestation?: DatasetAttestation;
}

export interface CommitDatasetParameters {
  parameters: DataValidityParameters;
  records: readonly DatasetRecord[];
  /** The device's 32-byte Baby Jubjub private key. */
  privateKey: Uint8Array;
  /** The attester's signature over these records' commitment (`attestDataset`), if any. */
  attestation?: DatasetAttestation;
  /** `recordLeaf` of every record, when already computed (on worker threads, say). */
  leaves?: readonly bigint[];
}

export interface DatasetTreeParameters {
  parameters: DataValidityParameters;
  records: readonly DatasetRecord[];
  /** `recordLeaf` of every record, when already computed (on worker threads, say). */
  leaves?: readonly bigint[];
}

export interface DatasetTreeReturnType {
  tree: MerkleTree;
  sampleCount: number;
  /** Poseidon(tree.root, sampleCount). */
  commitment: bigint;
}

/** The records' Merkle tree and commitment: what an attester signs, what a device commits to. */
export function datasetTree(parameters: DatasetTreeParameters): DatasetTreeReturnType {
  checkDataValidityParameters(parameters.parameters);
  const { records } = parameters;
  if (records.length === 0) throw new InvalidArgumentError("cannot commit to an empty dataset");
  if (parameters.leaves && parameters.leaves.length !== records.length) {
    throw new InvalidArgumentError(
      `${parameters.leaves.length} precomputed leaves for ${records.length} records`,
    );
  }
  const leaves = parameters.leaves ?? records.map((r) => recordLeaf(r, parameters.parameters));
  const tree = buildMerkleTree(leaves, parameters.parameters.depth);
  return {
    tree,
    sampleCount: records.length,
    commitment: datasetCommitment(tree.root, records.length),
  };
}

/**
 * Builds the Merkle tree, the commitment and the device's signature over it. An attestation
 * is checked here, so a device holding records other than the attested ones (one added, one
 * changed, a different count) learns it before enrolling rather than at its first proof.
 */
export function commitDataset(parameters: CommitDatasetParameters): CommittedDataset {
  const { records, privateKey, attestation } = parameters;
  const { tree, commitment } = datasetTree(parameters);
  if (attestation && !verifyPoseidon(attestation.publicKey, commitment, attestation.signature)) {
    throw new InvalidArgumentError(
      `the attestation does not sign this dataset (${records.length} records, root ${tree.root}): the records or their count differ from the attested ones`,
    );
  }
  return {
    ...(attestation ? { attestation } : {}),
    parameters: parameters.parameters,
    records,
    tree,
    sampleCount: records.length,
    commitment,
    publicKey: derivePublicKey(privateKey),
    signature: signPoseidon(privateKey, commitment),
  };
}
