import { encodeAbiParameters, getAddress, keccak256, sha256, toBytes, zeroHash } from "viem";
import { describe, expect, it } from "vitest";
import {
  type ContributionLeafInput,
  commitmentBytes32,
  creditAccountOf,
  deviceIdHash,
  leafProofsOf,
  proofHashOf,
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
  const proof = { pi_a: ["1", "2", "1"], protocol: "groth16", curve: "bn128" };

  it("is zero without proofs: 'no proofs' stays visible on chain", () => {
    expect(proofHashOf([])).toBe(zeroHash);
  });

  it("hashes the canonical JSON, so formatting and key order do not matter", () => {
    const compact = leafProofsOf([
      { circuitId: "c", proofJson: JSON.stringify(proof), publicSignals: ["5"] },
    ]);
    const indented = leafProofsOf([
      {
        circuitId: "c",
        proofJson: JSON.stringify(
          { curve: "bn128", protocol: "groth16", pi_a: ["1", "2", "1"] },
          null,
          2,
        ),
        publicSignals: ["5"],
      },
    ]);
    expect(proofHashOf(compact)).toBe(proofHashOf(indented));
    expect(proofHashOf(compact)).toBe(
      sha256(
        toBytes(
          '[{"circuitId":"c","proof":{"curve":"bn128","pi_a":["1","2","1"],"protocol":"groth16"},"publicSignals":["5"]}]',
        ),
      ),
    );
  });

  it("changes with the circuit id, a signal or the proof", () => {
    const base = proofHashOf([{ circuitId: "c", proof, publicSignals: ["5"] }]);
    expect(proofHashOf([{ circuitId: "d", proof, publicSignals: ["5"] }])).not.toBe(base);
    expect(proofHashOf([{ circuitId: "c", proof, publicSignals: ["6"] }])).not.toBe(base);
    expect(
      proofHashOf([
        { circuitId: "c", proof: { ...proof, pi_a: ["1", "3", "1"] }, publicSignals: ["5"] },
      ]),
    ).not.toBe(base);
  });

  it("refuses a stored proof that is not JSON", () => {
    expect(() =>
      leafProofsOf([{ circuitId: "c", proofJson: "{", publicSignals: [] }], "sim-004"),
    ).toThrow(/proof 0 of device sim-004 is not valid JSON/);
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
