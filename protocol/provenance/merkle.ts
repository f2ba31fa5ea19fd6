/**
 * The Merkle encoding of a round, shared by the coordinator (which anchors roots), devices (which
 * claim credits) and verifiers (which recompute roots from a provenance bundle). The same encoding
 * is checked on chain by contracts/FedproofRegistry.sol; change both or neither.
 *
 * - Leaves: keccak256(abi.encode(tag, ...fields)). The tag separates contribution leaves from
 *   credit leaves, and makes every leaf preimage at least 96 bytes long, so no leaf can be confused
 *   with an inner node (whose preimage is exactly 64 bytes).
 * - Inner nodes: sorted-pair hashing, keccak256(min(a, b) ‖ max(a, b)). Proofs are plain sibling
 *   lists, without left/right bits, as the contract verifies them.
 * - Shape: leaves are sorted ascending first, so a root depends on the set of leaves and not on
 *   the order in which updates arrived; a node left without a sibling is promoted unchanged (no
 *   duplication, which would let two different leaf sets share a root).
 * - Empty tree: the zero hash.
 * - A round anchors `roundRoot = hashPair(contributionsRoot, creditsRoot)`: a proof into either
 *   subtree ends with the other subtree's root.
 */
import {
  type Address,
  encodeAbiParameters,
  getAddress,
  type Hex,
  isAddress,
  isHex,
  keccak256,
  size,
  toBytes,
  zeroHash,
} from "viem";
import { InvalidArgumentError } from "../../common/errors.js";

export const contributionLeafTag = keccak256(toBytes("fedproof.leaf.contribution.v1"));
export const creditLeafTag = keccak256(toBytes("fedproof.leaf.credit.v1"));

/** The contract packs a round's total credits in 96 bits. */
export const maxTotalCredits = (1n << 96n) - 1n;
const maxUint256 = (1n << 256n) - 1n;

/** One verified update of a round, as anchored. */
export interface Contribution {
  /** 32-byte device identifier (hash of its public key, or its address left-padded). */
  deviceId: Hex;
  /** Poseidon commitment to the quantised update, as a 32-byte field element. */
  commitment: Hex;
  /** Hash of the device's proof and public signals; zero when the round ran without proofs. */
  proofHash: Hex;
  /** Aggregation weight the round gave this update (e.g. its sample count). */
  weight: bigint;
}

/** Credits one account earned in one round. */
export interface Credit {
  account: Address;
  amount: bigint;
}

export function contributionLeaf(contribution: Contribution): Hex {
  const { deviceId, commitment, proofHash, weight } = contribution;
  assertBytes32(deviceId, "deviceId");
  assertBytes32(commitment, "commitment");
  assertBytes32(proofHash, "proofHash");
  assertUint256(weight, "weight");
  return keccak256(
    encodeAbiParameters(
      [
        { type: "bytes32" },
        { type: "bytes32" },
        { type: "bytes32" },
        { type: "bytes32" },
        { type: "uint256" },
      ],
      [contributionLeafTag, deviceId, commitment, proofHash, weight],
    ),
  );
}

export function creditLeaf(credit: Credit): Hex {
  if (!isAddress(credit.account, { strict: false })) {
    throw new InvalidArgumentError(`credit account is not an address: ${credit.account}`);
  }
  assertUint256(credit.amount, "credit amount");
  return keccak256(
    encodeAbiParameters(
      [{ type: "bytes32" }, { type: "address" }, { type: "uint256" }],
      [creditLeafTag, credit.account, credit.amount],
    ),
  );
}

/** keccak256 of the two nodes, smaller first, as the contract's `_hashPair`. */
export function hashPair(a: Hex, b: Hex): Hex {
  const [low, high] = BigInt(a) < BigInt(b) ? [a, b] : [b, a];
  return keccak256(`0x${low.slice(2)}${high.slice(2)}`);
}

export interface MerkleTree {
  root: Hex;
  /** The leaves in tree order (ascending, lower-case). */
  leaves: readonly Hex[];
  /** Sibling hashes from the leaf up to the root; throws for a leaf not in the tree. */
  proof(leaf: Hex): Hex[];
}

export function buildMerkleTree(leaves: readonly Hex[]): MerkleTree {
  for (const leaf of leaves) assertBytes32(leaf, "leaf");
  const sorted = leaves.map((leaf) => leaf.toLowerCase() as Hex).sort();
  for (let index = 1; index < sorted.length; index++) {
    if (sorted[index] === sorted[index - 1]) {
      throw new InvalidArgumentError(`duplicate Merkle leaf ${sorted[index]}`);
    }
  }

  const levels: Hex[][] = [sorted];
  for (let level = sorted; level.length > 1; ) {
    const next: Hex[] = [];
    for (let index = 0; index < level.length; index += 2) {
      const right = level[index + 1];
      next.push(right === undefined ? level[index]! : hashPair(level[index]!, right));
    }
    levels.push(next);
    level = next;
  }
  const root = levels.at(-1)?.[0] ?? zeroHash;

  return {
    root,
    leaves: sorted,
    proof(leaf) {
      let index = sorted.indexOf(leaf.toLowerCase() as Hex);
      if (index < 0) throw new InvalidArgumentError(`leaf ${leaf} is not in the tree`);
      const siblings: Hex[] = [];
      for (const level of levels.slice(0, -1)) {
        const sibling = level[index ^ 1];
        if (sibling !== undefined) siblings.push(sibling);
        index >>= 1;
      }
      return siblings;
    },
  };
}

export interface VerifyMerkleProofParameters {
  root: Hex;
  leaf: Hex;
  proof: readonly Hex[];
}

export function verifyMerkleProof({ root, leaf, proof }: VerifyMerkleProofParameters): boolean {
  for (const node of [root, leaf, ...proof]) assertBytes32(node, "Merkle node");
  const computed = proof.reduce<Hex>((node, sibling) => hashPair(node, sibling), leaf);
  return BigInt(computed) === BigInt(root);
}

export interface BuildRoundTreeParameters {
  contributions: readonly Contribution[];
  credits: readonly Credit[];
}

export interface RoundTree {
  contributionsRoot: Hex;
  creditsRoot: Hex;
  /** What the registry stores: hashPair(contributionsRoot, creditsRoot). */
  roundRoot: Hex;
  contributors: number;
  totalCredits: bigint;
  /** Proof of a device's contribution up to the round root (for `verifyContribution`). */
  contributionProof(deviceId: Hex): Hex[];
  /** Amount and proof up to the round root for an account's claim (for `claimCredits`). */
  creditProof(account: Address): { amount: bigint; proof: Hex[] };
}

/**
 * Builds both trees of a round. A device contributes at most once per round and an account is
 * credited at most once (the contract lets each account claim a round once), so duplicates are
 * refused rather than merged: they point at a bug upstream.
 */
export function buildRoundTree({ contributions, credits }: BuildRoundTreeParameters): RoundTree {
  const contributionLeaves = new Map<string, Hex>();
  for (const contribution of contributions) {
    const key = contribution.deviceId.toLowerCase();
    if (contributionLeaves.has(key)) {
      throw new InvalidArgumentError(
        `device ${contribution.deviceId} contributes twice to the round`,
      );
    }
    contributionLeaves.set(key, contributionLeaf(contribution));
  }
  const creditEntries = new Map<string, { amount: bigint; leaf: Hex }>();
  let totalCredits = 0n;
  for (const credit of credits) {
    const key = isAddress(credit.account, { strict: false })
      ? getAddress(credit.account)
      : credit.account;
    if (creditEntries.has(key)) {
      throw new InvalidArgumentError(`account ${credit.account} is credited twice in the round`);
    }
    creditEntries.set(key, { amount: credit.amount, leaf: creditLeaf(credit) });
    totalCredits += credit.amount;
  }
  if (totalCredits > maxTotalCredits) {
    throw new InvalidArgumentError(
      `total credits ${totalCredits} exceed the registry's 96-bit limit`,
    );
  }

  const contributionsTree = buildMerkleTree([...contributionLeaves.values()]);
  const creditsTree = buildMerkleTree([...creditEntries.values()].map((entry) => entry.leaf));
  return {
    contributionsRoot: contributionsTree.root,
    creditsRoot: creditsTree.root,
    roundRoot: hashPair(contributionsTree.root, creditsTree.root),
    contributors: contributionLeaves.size,
    totalCredits,
    contributionProof(deviceId) {
      const leaf = contributionLeaves.get(deviceId.toLowerCase());
      if (!leaf)
        throw new InvalidArgumentError(`device ${deviceId} did not contribute to the round`);
      return [...contributionsTree.proof(leaf), creditsTree.root];
    },
    creditProof(account) {
      const entry = isAddress(account, { strict: false })
        ? creditEntries.get(getAddress(account))
        : undefined;
      if (!entry) throw new InvalidArgumentError(`account ${account} has no credits in the round`);
      return {
        amount: entry.amount,
        proof: [...creditsTree.proof(entry.leaf), contributionsTree.root],
      };
    },
  };
}

function assertBytes32(value: Hex, field: string): void {
  if (!isHex(value, { strict: true }) || size(value) !== 32) {
    throw new InvalidArgumentError(`${field} must be a 32-byte hex string, got ${value}`);
  }
}

function assertUint256(value: bigint, field: string): void {
  if (typeof value !== "bigint" || value < 0n || value > maxUint256) {
    throw new InvalidArgumentError(`${field} must be a uint256, got ${String(value)}`);
  }
}

/** A store's sha256 hex digest (no prefix) as the registry's bytes32; accepts a 0x prefix too. */
export function sha256HexToBytes32(hex: string, what = "hash"): Hex {
  const bare = hex.startsWith("0x") ? hex.slice(2) : hex;
  if (!/^[0-9a-fA-F]{64}$/.test(bare)) {
    throw new InvalidArgumentError(`${what} must be a sha256 hex digest, got "${hex}"`);
  }
  return `0x${bare.toLowerCase()}`;
}
