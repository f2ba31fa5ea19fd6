import { encodeAbiParameters, getAddress, type Hex, keccak256, toBytes, zeroHash } from "viem";
import { describe, expect, it } from "vitest";
import {
  type ContributionLeafInput,
  chunkHashOf,
  commitmentBytes32,
  creditAccountOf,
  deviceIdHash,
  kzgCommitmentsHashOf,
  leafProofsOf,
  proofHashOf,
  proofHashParts,
  roundLeaves,
} from "./round-leaves.js";

const payout = "0x00000000000000000000000000000000000000aa";

function input(overrides: Partial<ContributionLeafInput> = {}): ContributionLeafInput {
  return {
    deviceId: "sim-001",
    publicKey: "ab".repeat(32),
    payoutAddress: "",
    commitment: "",
    samples: 10,
    proofs: [],
    ...overrides,
  };
}

describe("deviceIdHash", () => {
  it("is the tagged keccak of the id and the enrolled key, with or without 0x", () => {
    const expected = keccak256(
      encodeAbiParameters(
        [{ type: "bytes32" }, { type: "string" }, { type: "bytes" }],
        [keccak256(toBytes("fedproof.device.v1")), "sim-001", `0x${"ab".repeat(32)}`],
      ),
    );
    expect(deviceIdHash("sim-001", "ab".repeat(32))).toBe(expected);
    expect(deviceIdHash("sim-001", `0x${"AB".repeat(32)}`)).toBe(expected);
  });

  it("changes with the key, so a bundle cannot swap a device's key", () => {
    expect(deviceIdHash("sim-001", "ab".repeat(32))).not.toBe(
      deviceIdHash("sim-001", "ac".repeat(32)),
    );
  });

  it("refuses an empty id and a key that is not hex", () => {
    expect(() => deviceIdHash("", "ab")).toThrow(/must not be empty/);
    expect(() => deviceIdHash("sim-001", "xyz")).toThrow(/not hex/);
  });
});

describe("commitmentBytes32", () => {
  it("left-pads a field element and maps no commitment to zero", () => {
    expect(commitmentBytes32("")).toBe(zeroHash);
    expect(commitmentBytes32("0x1234")).toBe(`0x${"0".repeat(60)}1234`);
    expect(commitmentBytes32("ff".repeat(32))).toBe(`0x${"ff".repeat(32)}`);
    // A number: odd-length hex and leading zeros name the same field element.
    expect(commitmentBytes32("abc")).toBe(commitmentBytes32(`0x${"0".repeat(61)}abc`));
    expect(commitmentBytes32("000")).toBe(zeroHash);
  });

  it("refuses more than 32 bytes, naming the device", () => {
    expect(() => commitmentBytes32("01".repeat(33), "sim-009")).toThrow(/sim-009 exceeds 32 bytes/);
    expect(() => commitmentBytes32("0xzz", "sim-009")).toThrow(/sim-009 is not hex/);
  });
});

describe("proofHashOf", () => {
  const proof = {
    pi_a: ["1", "2", "1"],
    pi_b: [
      ["3", "4"],
      ["5", "6"],
      ["1", "0"],
    ],
    pi_c: ["7", "8", "1"],
    protocol: "groth16",
    curve: "bn128",
  };
  const kzg = [`0x${"11".repeat(32)}${"22".repeat(32)}`, `0x${"33".repeat(64)}`];

  it("is zero without proofs: 'no proofs' stays visible on chain", () => {
    expect(proofHashOf([])).toBe(zeroHash);
  });

  it("is the keccak of the ABI-encoded chunk hashes and KZG commitments hash, b swapped as the Solidity verifier takes it", () => {
    const chunk = keccak256(
      encodeAbiParameters(
        [
          { type: "bytes32" },
          { type: "uint256[2]" },
          { type: "uint256[2][2]" },
          { type: "uint256[2]" },
          { type: "uint256[]" },
        ],
        [
          keccak256(toBytes("c")),
          [1n, 2n],
          [
            [4n, 3n],
            [6n, 5n],
          ],
          [7n, 8n],
          [5n],
        ],
      ),
    );
    const proofs = [{ circuitId: "c", proof, publicSignals: ["5"] }];
    expect(chunkHashOf(proofs[0]!)).toBe(chunk);
    const kzgHash = keccak256(`0x${"11".repeat(32)}${"22".repeat(32)}${"33".repeat(64)}`);
    expect(kzgCommitmentsHashOf(kzg)).toBe(kzgHash);
    expect(kzgCommitmentsHashOf([])).toBe(zeroHash);
    const encode = (hash: Hex) =>
      keccak256(encodeAbiParameters([{ type: "bytes32[]" }, { type: "bytes32" }], [[chunk], hash]));
    expect(proofHashOf(proofs, kzg)).toBe(encode(kzgHash));
    expect(proofHashOf(proofs)).toBe(encode(zeroHash));
    expect(proofHashParts(proofs, kzg)).toEqual({
      chunkHashes: [chunk],
      kzgCommitmentsHash: kzgHash,
      proofHash: encode(kzgHash),
    });
  });

  it("hashes the numbers, so formatting and key order do not matter", () => {
    const compact = leafProofsOf([
      { circuitId: "c", proofJson: JSON.stringify(proof), publicSignals: ["5"] },
    ]);
    const reordered = leafProofsOf([
      {
        circuitId: "c",
        proofJson: JSON.stringify(
          { curve: "bn128", pi_c: proof.pi_c, pi_b: proof.pi_b, pi_a: proof.pi_a },
          null,
          2,
        ),
        publicSignals: ["5"],
      },
    ]);
    expect(proofHashOf(compact)).toBe(proofHashOf(reordered));
  });

  it("changes with the circuit id, a signal, the proof, the order of proofs and the KZG commitments", () => {
    const other = { ...proof, pi_a: ["1", "3", "1"] };
    const base = proofHashOf([
      { circuitId: "c", proof, publicSignals: ["5"] },
      { circuitId: "c", proof: other, publicSignals: ["5"] },
    ]);
    const variants = [
      proofHashOf([
        { circuitId: "d", proof, publicSignals: ["5"] },
        { circuitId: "c", proof: other, publicSignals: ["5"] },
      ]),
      proofHashOf([
        { circuitId: "c", proof, publicSignals: ["6"] },
        { circuitId: "c", proof: other, publicSignals: ["5"] },
      ]),
      proofHashOf([
        { circuitId: "c", proof: other, publicSignals: ["5"] },
        { circuitId: "c", proof, publicSignals: ["5"] },
      ]),
      proofHashOf(
        [
          { circuitId: "c", proof, publicSignals: ["5"] },
          { circuitId: "c", proof: other, publicSignals: ["5"] },
        ],
        kzg,
      ),
    ];
    for (const variant of variants) expect(variant).not.toBe(base);
  });

  it("refuses a stored proof that is not JSON, a proof without its points, and a malformed KZG commitment", () => {
    expect(() =>
      leafProofsOf([{ circuitId: "c", proofJson: "{", publicSignals: [] }], "sim-004"),
    ).toThrow(/proof 0 of device sim-004 is not valid JSON/);
    expect(() =>
      proofHashOf(
        [{ circuitId: "c", proof: { pi_a: ["1", "2"] }, publicSignals: [] }],
        [],
        "sim-5",
      ),
    ).toThrow(/proof 0 of device sim-5\.pi_b is not a G2 point/);
    expect(() =>
      proofHashOf([{ circuitId: "c", proof, publicSignals: ["x"] }], [], "sim-6"),
    ).toThrow(/proof 0 of device sim-6 public signal 0 is not an integer/);
    expect(() => kzgCommitmentsHashOf(["0x1234"], "sim-7")).toThrow(
      /KZG commitment 0 of device sim-7 is not 0x and 128 hex digits/,
    );
  });
});

describe("creditAccountOf", () => {
  it("uses the payout address when there is one", () => {
    expect(creditAccountOf(zeroHash, payout)).toBe(getAddress(payout));
  });

  it("derives a distinct address per device otherwise", () => {
    const a = creditAccountOf(deviceIdHash("a", ""), "");
    const b = creditAccountOf(deviceIdHash("b", ""), "");
    expect(a).toMatch(/^0x[0-9a-fA-F]{40}$/);
    expect(a).not.toBe(b);
  });

  it("refuses a payout that is not an address", () => {
    expect(() => creditAccountOf(zeroHash, "0x1234")).toThrow(/not an address/);
  });
});

describe("roundLeaves", () => {
  it("weights by samples and merges the credits of devices sharing a payout address", () => {
    const { contributions, credits, leaves } = roundLeaves([
      input({ deviceId: "a", samples: 10, payoutAddress: payout }),
      input({ deviceId: "b", samples: 20, payoutAddress: payout }),
      input({ deviceId: "c", samples: 5 }),
    ]);
    expect(contributions.map((c) => c.weight)).toEqual([10n, 20n, 5n]);
    expect(credits).toHaveLength(2);
    expect(credits.find((credit) => credit.account === getAddress(payout))?.amount).toBe(30n);
    expect(credits.find((credit) => credit.account === leaves[2]!.creditAccount)?.amount).toBe(5n);
  });

  it("refuses a sample count that is not a count", () => {
    expect(() => roundLeaves([input({ samples: -1 })])).toThrow(/-1 samples/);
    expect(() => roundLeaves([input({ samples: 1.5 })])).toThrow(/1.5 samples/);
  });
});
