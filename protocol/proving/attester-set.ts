import { InvalidArgumentError } from "../../common/errors.js";
import { type DataValidityParameters, DEFAULT_ATTESTER_DEPTH } from "./data-validity-parameters.js";
import {
  buildMerkleTree,
  datasetCommitment,
  type MerkleTree,
  merkleSiblings,
} from "./dataset-commitment.js";
import {
  type BabyJubjubPublicKey,
  derivePublicKey,
  type EddsaPoseidonSignature,
  signPoseidon,
  verifyPoseidon,
} from "./eddsa-poseidon.js";
import { parseFieldElement } from "./field.js";
import { poseidonHash } from "./poseidon.js";

/**
 * The keys a job trusts to vouch for data (sensors, data providers in a DePIN network),
 * pinned by one Poseidon Merkle root. The job publishes the root (the DataValidity circuit's
 * public `attesterRoot`) and the keys; a device proves that *some* key of the set signed its
 * dataset commitment without saying which, so the proof does not tell the coordinator which
 * sensor measured the data.
 */
export interface AttesterSet {
  /** Tree depth: the DataValidity circuit's `attesterDepth`. */
  depth: number;
  /** Leaf i is Poseidon(keys[i].x, keys[i].y); leaves past the keys are 0. */
  keys: readonly BabyJubjubPublicKey[];
  tree: MerkleTree;
  root: bigint;
}

/** An attester's signature over a dataset commitment Poseidon(root, sampleCount). */
export interface DatasetAttestation {
  publicKey: BabyJubjubPublicKey;
  signature: EddsaPoseidonSignature;
}

/** Where a key sits in the attester tree: the private path the circuit checks. */
export interface AttesterMembership {
  index: number;
  siblings: bigint[];
}

/** Leaf of the attester tree: Poseidon(Ax, Ay), as the circuit hashes the signer's key. */
export function attesterLeaf(key: BabyJubjubPublicKey): bigint {
  return poseidonHash([key.x, key.y]);
}

export interface BuildAttesterSetParameters {
  keys: readonly BabyJubjubPublicKey[];
  /** Default DEFAULT_ATTESTER_DEPTH (10: up to 1,024 keys). */
  depth?: number;
}

/** The attester tree over the keys, in the given order (the order fixes the root). */
export function buildAttesterSet(parameters: BuildAttesterSetParameters): AttesterSet {
  const depth = parameters.depth ?? DEFAULT_ATTESTER_DEPTH;
  if (!Number.isInteger(depth) || depth < 1 || depth > 32) {
    throw new InvalidArgumentError(
      `an attester tree needs a depth in [1, 32], got ${depth} (depth 0 means no attesters)`,
    );
  }
  const { keys } = parameters;
  if (keys.length === 0) throw new InvalidArgumentError("an attester set needs at least one key");
  if (keys.length > 2 ** depth) {
    throw new InvalidArgumentError(
      `${keys.length} attester keys do not fit a tree of depth ${depth}`,
    );
  }
  const seen = new Set<string>();
  for (const key of keys) {
    const id = `${key.x}:${key.y}`;
    if (seen.has(id)) throw new InvalidArgumentError(`attester key ${key.x} appears twice`);
    seen.add(id);
  }
  const tree = buildMerkleTree(keys.map(attesterLeaf), depth);
  return { depth, keys: [...keys], tree, root: tree.root };
}

/** The key's path in the set; throws if the job does not trust the key. */
export function attesterMembership(set: AttesterSet, key: BabyJubjubPublicKey): AttesterMembership {
  const index = set.keys.findIndex((k) => k.x === key.x && k.y === key.y);
  if (index < 0) {
    throw new InvalidArgumentError(
      `the dataset is attested by key ${key.x}, which is not in the job's attester set`,
    );
  }
  return { index, siblings: merkleSiblings(set.tree, index) };
}

/** The root a key and path lead to: what the circuit compares with `attesterRoot`. */
export function attesterRootOf(key: BabyJubjubPublicKey, membership: AttesterMembership): bigint {
  let current = attesterLeaf(key);
  membership.siblings.forEach((sibling, level) => {
    const right = (membership.index >> level) & 1;
    current = right ? poseidonHash([sibling, current]) : poseidonHash([current, sibling]);
  });
  return current;
}

export interface AttestDatasetParameters {
  /** The attester's 32-byte Baby Jubjub private key. */
  privateKey: Uint8Array;
  /** The dataset's Merkle root (`CommittedDataset.tree.root`). */
  root: bigint;
  /** The number of records the attester vouches for: the count the proof will weigh by. */
  sampleCount: number;
}

/** An attester signs (root, count): the same Poseidon(root, count) the device commits to. */
export function attestDataset(parameters: AttestDatasetParameters): DatasetAttestation {
  const commitment = datasetCommitment(parameters.root, parameters.sampleCount);
  return {
    publicKey: derivePublicKey(parameters.privateKey),
    signature: signPoseidon(parameters.privateKey, commitment),
  };
}

/** Whether the attestation signs exactly this dataset commitment. */
export function verifyDatasetAttestation(
  attestation: DatasetAttestation,
  commitment: bigint,
): boolean {
  return verifyPoseidon(attestation.publicKey, commitment, attestation.signature);
}

/** The attester set as a file or job field carries it: decimal strings, root included. */
export interface AttesterSetJson {
  depth: number;
  root: string;
  keys: { x: string; y: string }[];
}

export function attesterSetToJson(set: AttesterSet): AttesterSetJson {
  return {
    depth: set.depth,
    root: set.root.toString(),
    keys: set.keys.map((k) => ({ x: k.x.toString(), y: k.y.toString() })),
  };
}

/** Rebuilds the tree from the keys and refuses a file whose stated root does not match. */
export function attesterSetFromJson(json: AttesterSetJson): AttesterSet {
  if (!json || !Array.isArray(json.keys)) {
    throw new InvalidArgumentError("an attester set needs `depth`, `root` and `keys`");
  }
  const keys = json.keys.map((k, i) => ({
    x: parseFieldElement(String(k.x), `attester key ${i} x`),
    y: parseFieldElement(String(k.y), `attester key ${i} y`),
  }));
  const set = buildAttesterSet({ keys, depth: json.depth });
  if (set.root.toString() !== String(json.root)) {
    throw new InvalidArgumentError(
      `the attester set's keys hash to root ${set.root}, the file states ${json.root}`,
    );
  }
  return set;
}

/** Throws unless the set can serve a circuit with these parameters' attester depth. */
export function checkAttesterSetFits(set: AttesterSet, parameters: DataValidityParameters): void {
  if (parameters.attesterDepth === 0) {
    throw new InvalidArgumentError(
      "the job names attesters, but its DataValidity circuit was built without an attester check (attesterDepth 0)",
    );
  }
  if (set.depth !== parameters.attesterDepth) {
    throw new InvalidArgumentError(
      `the attester set is a tree of depth ${set.depth}, the circuit checks depth ${parameters.attesterDepth}`,
    );
  }
}

/**
 * An attestation as a file carries it to the device: the signer, the signature, and the
 * (root, count) it covers, so a device can tell which records it must hold before enrolling.
 */
export interface DatasetAttestationJson {
  attester: { x: string; y: string };
  root: string;
  sampleCount: number;
  datasetCommitment: string;
  signature: { R8x: string; R8y: string; S: string };
}

export function datasetAttestationToJson(
  attestation: DatasetAttestation,
  dataset: { root: bigint; sampleCount: number },
): DatasetAttestationJson {
  const { publicKey, signature } = attestation;
  return {
    attester: { x: publicKey.x.toString(), y: publicKey.y.toString() },
    root: dataset.root.toString(),
    sampleCount: dataset.sampleCount,
    datasetCommitment: datasetCommitment(dataset.root, dataset.sampleCount).toString(),
    signature: {
      R8x: signature.R8x.toString(),
      R8y: signature.R8y.toString(),
      S: signature.S.toString(),
    },
  };
}

/** Parses an attestation file; refuses one whose signature does not cover its (root, count). */
export function datasetAttestationFromJson(json: DatasetAttestationJson): {
  attestation: DatasetAttestation;
  root: bigint;
  sampleCount: number;
} {
  const field = (value: unknown, what: string) => parseFieldElement(String(value), what);
  const attestation: DatasetAttestation = {
    publicKey: {
      x: field(json?.attester?.x, "attester x"),
      y: field(json?.attester?.y, "attester y"),
    },
    signature: {
      R8x: field(json?.signature?.R8x, "signature R8x"),
      R8y: field(json?.signature?.R8y, "signature R8y"),
      S: field(json?.signature?.S, "signature S"),
    },
  };
  const root = field(json.root, "dataset root");
  const { sampleCount } = json;
  if (!Number.isSafeInteger(sampleCount) || sampleCount < 1) {
    throw new InvalidArgumentError(
      `an attestation needs a positive sampleCount, got ${sampleCount}`,
    );
  }
  if (!verifyDatasetAttestation(attestation, datasetCommitment(root, sampleCount))) {
    throw new InvalidArgumentError(
      `the attestation's signature does not cover root ${root} with ${sampleCount} records`,
    );
  }
  return { attestation, root, sampleCount };
}
