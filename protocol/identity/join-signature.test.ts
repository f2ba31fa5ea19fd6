import { describe, expect, it } from "vitest";
import { derivePublicKey, randomPrivateKey } from "../proving/eddsa-poseidon.js";
import type { JoinMessageParameters } from "./join-message.js";
import { joinCommitmentField, signJoin, verifyJoin } from "./join-signature.js";

describe("join signatures", () => {
  const privateKey = randomPrivateKey();
  const message: Omit<JoinMessageParameters, "publicKey"> = {
    jobId: "job",
    deviceId: "device",
    nonce: "ab".repeat(31),
    payoutAddress: "0x00000000000000000000000000000000000000Aa",
    datasetCommitment: 12345n,
    samples: 100,
  };
  const { publicKey, signature } = signJoin({ ...message, privateKey });

  it("verify under the signing key, over exactly the fields signed", () => {
    expect(publicKey).toEqual(derivePublicKey(privateKey));
    expect(verifyJoin({ ...message, publicKey }, signature)).toBe(true);
    // Payout addresses are signed case-insensitively: checksummed or not, the same address.
    expect(
      verifyJoin(
        { ...message, publicKey, payoutAddress: message.payoutAddress.toLowerCase() },
        signature,
      ),
    ).toBe(true);
    const changes: Partial<JoinMessageParameters>[] = [
      { jobId: "other-job" },
      { deviceId: "other-device" },
      { nonce: "cd".repeat(31) },
      { payoutAddress: "" },
      { datasetCommitment: 0n },
      { samples: 101 },
      { publicKey: derivePublicKey(randomPrivateKey()) },
    ];
    for (const change of changes) {
      expect(verifyJoin({ ...message, publicKey, ...change }, signature)).toBe(false);
    }
  });

  it("refuse a signature that is not 96 bytes", () => {
    expect(() => verifyJoin({ ...message, publicKey }, signature.subarray(1))).toThrow(/96 bytes/);
  });

  it("sign an absent dataset commitment as 0", () => {
    expect(joinCommitmentField(new Uint8Array())).toBe(0n);
    expect(joinCommitmentField(new Uint8Array(32).fill(1, 31))).toBe(1n);
    expect(() => joinCommitmentField(new Uint8Array(31))).toThrow(/32 bytes/);
  });
});
