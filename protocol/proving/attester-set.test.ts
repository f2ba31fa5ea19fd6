import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../common/errors.js";
import {
  attestDataset,
  attesterLeaf,
  attesterMembership,
  attesterRootOf,
  attesterSetFromJson,
  attesterSetToJson,
  buildAttesterSet,
  checkAttesterSetFits,
  verifyDatasetAttestation,
} from "./attester-set.js";
import { buildMerkleTree, datasetCommitment } from "./dataset-commitment.js";
import { derivePublicKey } from "./eddsa-poseidon.js";
import { poseidonHash } from "./poseidon.js";

const privateKeys = [1, 2, 3].map((b) => new Uint8Array(32).fill(b));
const keys = privateKeys.map(derivePublicKey);

describe("attester set", () => {
  it("is a Poseidon Merkle tree over Poseidon(Ax, Ay)", () => {
    const set = buildAttesterSet({ keys, depth: 2 });
    expect(attesterLeaf(keys[0]!)).toBe(poseidonHash([keys[0]!.x, keys[0]!.y]));
    const leaves = keys.map(attesterLeaf);
    const level1 = [poseidonHash([leaves[0]!, leaves[1]!]), poseidonHash([leaves[2]!, 0n])];
    expect(set.root).toBe(poseidonHash(level1));
    expect(set.root).toBe(buildMerkleTree(leaves, 2).root);
    expect(buildAttesterSet({ keys }).depth).toBe(10);
  });

  it("gives every key a path to the root, and no path to a stranger", () => {
    const set = buildAttesterSet({ keys, depth: 3 });
    keys.forEach((key, i) => {
      const membership = attesterMembership(set, key);
      expect(membership.index).toBe(i);
      expect(membership.siblings).toHaveLength(3);
      expect(attesterRootOf(key, membership)).toBe(set.root);
    });
    const stranger = derivePublicKey(new Uint8Array(32).fill(9));
    expect(() => attesterMembership(set, stranger)).toThrow(InvalidArgumentError);
    expect(attesterRootOf(stranger, attesterMembership(set, keys[1]!))).not.toBe(set.root);
  });

  it("refuses empty, duplicated or oversized sets", () => {
    expect(() => buildAttesterSet({ keys: [], depth: 2 })).toThrow(InvalidArgumentError);
    expect(() => buildAttesterSet({ keys: [keys[0]!, keys[0]!], depth: 2 })).toThrow(/twice/);
    expect(() => buildAttesterSet({ keys, depth: 1 })).toThrow(/do not fit/);
    expect(() => buildAttesterSet({ keys, depth: 0 })).toThrow(InvalidArgumentError);
  });

  it("round-trips through JSON and refuses a file whose root does not match its keys", () => {
    const set = buildAttesterSet({ keys, depth: 2 });
    const json = JSON.parse(JSON.stringify(attesterSetToJson(set)));
    expect(attesterSetFromJson(json).root).toBe(set.root);
    expect(() => attesterSetFromJson({ ...json, root: "5" })).toThrow(/hash to root/);
    expect(() => attesterSetFromJson({ ...json, keys: json.keys.slice(1) })).toThrow(
      InvalidArgumentError,
    );
  });

  it("signs the dataset commitment Poseidon(root, count)", () => {
    const attestation = attestDataset({ privateKey: privateKeys[0]!, root: 77n, sampleCount: 40 });
    expect(attestation.publicKey).toEqual(keys[0]);
    expect(verifyDatasetAttestation(attestation, datasetCommitment(77n, 40))).toBe(true);
    expect(verifyDatasetAttestation(attestation, datasetCommitment(77n, 41))).toBe(false);
    expect(verifyDatasetAttestation(attestation, datasetCommitment(78n, 40))).toBe(false);
  });

  it("must match the circuit's attester depth", () => {
    const set = buildAttesterSet({ keys, depth: 2 });
    const shape = { depth: 6, features: 8, samples: 2, featureBits: 8, labelBits: 8 };
    expect(() => checkAttesterSetFits(set, { ...shape, attesterDepth: 2 })).not.toThrow();
    expect(() => checkAttesterSetFits(set, { ...shape, attesterDepth: 3 })).toThrow(/depth 2/);
    expect(() => checkAttesterSetFits(set, { ...shape, attesterDepth: 0 })).toThrow(
      /without an attester check/,
    );
  });
});
