import { type Address, getAddress, type Hex, keccak256, toBytes, zeroHash } from "viem";
import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../common/errors.js";
import {
  buildMerkleTree,
  buildRoundTree,
  type Contribution,
  contributionLeaf,
  creditLeaf,
  hashPair,
  maxTotalCredits,
  verifyMerkleProof,
} from "./merkle.js";

const h = (label: string): Hex => keccak256(toBytes(label));
const address = (index: number): Address =>
  getAddress(`0x${(index + 1).toString(16).padStart(40, "0")}`);

function contribution(index: number): Contribution {
  return {
    deviceId: h(`device ${index}`),
    commitment: h(`commitment ${index}`),
    proofHash: h(`proof ${index}`),
    weight: BigInt(10 + index),
  };
}

describe("buildMerkleTree", () => {
  it("has the zero hash as the root of an empty tree and the leaf as the root of one leaf", () => {
    expect(buildMerkleTree([]).root).toBe(zeroHash);
    const leaf = h("only");
    const tree = buildMerkleTree([leaf]);
    expect(tree.root).toBe(leaf);
    expect(tree.proof(leaf)).toEqual([]);
  });

  it("hashes pairs smaller-first, so the order of the two does not matter", () => {
    const [a, b] = [h("a"), h("b")];
    const expected =
      BigInt(a) < BigInt(b)
        ? keccak256(`0x${a.slice(2)}${b.slice(2)}`)
        : keccak256(`0x${b.slice(2)}${a.slice(2)}`);
    expect(hashPair(a, b)).toBe(expected);
    expect(hashPair(b, a)).toBe(expected);
    expect(buildMerkleTree([a, b]).root).toBe(expected);
  });

  it("proves every leaf of trees of every size, including odd ones", () => {
    for (let size = 1; size <= 17; size++) {
      const leaves = Array.from({ length: size }, (_, index) => h(`leaf ${size}/${index}`));
      const tree = buildMerkleTree(leaves);
      for (const leaf of leaves) {
        expect(verifyMerkleProof({ root: tree.root, leaf, proof: tree.proof(leaf) })).toBe(true);
      }
      expect(
        verifyMerkleProof({ root: tree.root, leaf: h("stranger"), proof: tree.proof(leaves[0]!) }),
      ).toBe(false);
    }
  });

  it("depends on the set of leaves, not on their order", () => {
    const leaves = Array.from({ length: 7 }, (_, index) => h(`leaf ${index}`));
    expect(buildMerkleTree([...leaves].reverse()).root).toBe(buildMerkleTree(leaves).root);
    expect(buildMerkleTree(leaves.slice(1)).root).not.toBe(buildMerkleTree(leaves).root);
  });

  it("refuses duplicate leaves and malformed hashes", () => {
    expect(() => buildMerkleTree([h("x"), h("x")])).toThrow(InvalidArgumentError);
    expect(() => buildMerkleTree(["0x1234"])).toThrow(InvalidArgumentError);
    expect(() => buildMerkleTree([h("x")]).proof(h("y"))).toThrow(InvalidArgumentError);
  });
});

describe("leaves", () => {
  it("binds every field of a contribution and of a credit", () => {
    const base = contribution(1);
    const leaf = contributionLeaf(base);
    expect(contributionLeaf({ ...base, deviceId: h("other") })).not.toBe(leaf);
    expect(contributionLeaf({ ...base, commitment: h("other") })).not.toBe(leaf);
    expect(contributionLeaf({ ...base, proofHash: h("other") })).not.toBe(leaf);
    expect(contributionLeaf({ ...base, weight: base.weight + 1n })).not.toBe(leaf);
    expect(creditLeaf({ account: address(1), amount: 5n })).not.toBe(
      creditLeaf({ account: address(1), amount: 6n }),
    );
    expect(creditLeaf({ account: address(1), amount: 5n })).not.toBe(
      creditLeaf({ account: address(2), amount: 5n }),
    );
  });

  it("refuses values the contract could not encode", () => {
    expect(() => contributionLeaf({ ...contribution(1), weight: -1n })).toThrow(
      InvalidArgumentError,
    );
    expect(() => contributionLeaf({ ...contribution(1), deviceId: "0xabcd" })).toThrow(
      InvalidArgumentError,
    );
    expect(() => creditLeaf({ account: "0x1234" as Address, amount: 1n })).toThrow(
      InvalidArgumentError,
    );
  });
});

describe("buildRoundTree", () => {
  const contributions = Array.from({ length: 5 }, (_, index) => contribution(index));
  const credits = contributions.map((_, index) => ({
    account: address(index),
    amount: BigInt(index + 1),
  }));
  const tree = buildRoundTree({ contributions, credits });

  it("joins both subtrees under the round root and totals the credits", () => {
    expect(tree.roundRoot).toBe(hashPair(tree.contributionsRoot, tree.creditsRoot));
    expect(tree.contributors).toBe(5);
    expect(tree.totalCredits).toBe(15n);
  });

  it("proves contributions and credits up to the round root, and nothing else", () => {
    for (const item of contributions) {
      const proof = tree.contributionProof(item.deviceId);
      expect(verifyMerkleProof({ root: tree.roundRoot, leaf: contributionLeaf(item), proof })).toBe(
        true,
      );
      const forged = contributionLeaf({ ...item, weight: item.weight * 2n });
      expect(verifyMerkleProof({ root: tree.roundRoot, leaf: forged, proof })).toBe(false);
    }
    for (const credit of credits) {
      const { amount, proof } = tree.creditProof(credit.account.toLowerCase() as Address);
      expect(amount).toBe(credit.amount);
      expect(verifyMerkleProof({ root: tree.roundRoot, leaf: creditLeaf(credit), proof })).toBe(
        true,
      );
      expect(
        verifyMerkleProof({
          root: tree.roundRoot,
          leaf: creditLeaf({ ...credit, amount: amount + 1n }),
          proof,
        }),
      ).toBe(false);
    }
  });

  it("refuses a device that contributes twice, an account credited twice, and totals beyond 96 bits", () => {
    expect(() =>
      buildRoundTree({ contributions: [contributions[0]!, contributions[0]!], credits: [] }),
    ).toThrow(InvalidArgumentError);
    expect(() =>
      buildRoundTree({
        contributions: [],
        credits: [
          credits[0]!,
          { ...credits[0]!, account: credits[0]!.account.toLowerCase() as Address },
        ],
      }),
    ).toThrow(InvalidArgumentError);
    expect(() =>
      buildRoundTree({
        contributions: [],
        credits: [
          { account: address(1), amount: maxTotalCredits },
          { account: address(2), amount: 1n },
        ],
      }),
    ).toThrow(InvalidArgumentError);
  });

  it("names the missing device or account", () => {
    expect(() => tree.contributionProof(h("nobody"))).toThrow(/did not contribute/);
    expect(() => tree.creditProof(address(99))).toThrow(/no credits/);
  });
});
