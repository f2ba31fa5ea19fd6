/**
 * How a round's verified contributions become the leaves the registry anchors (merkle.ts holds
 * the tree itself). The anchor worker, the bundle exporter and `fedproof verify` all derive the
 * leaves here, from the same raw fields, so a verifier recomputes exactly what was anchored.
 *
 * Decisions, and why:
 * - deviceId (bytes32) = keccak256(abi.encode(keccak256("fedproof.device.v1"), string deviceId,
 *   bytes publicKey)). Device ids are free-form strings chosen at Join and only unique within a
 *   job; hashing the id together with the key it enrolled makes the anchor commit to the key as
 *   well, so a bundle cannot swap a device's key without breaking the root. keccak, like every
 *   other hash in the tree, so the contract could recompute it.
 * - commitment: the Poseidon commitment is one BN254 field element (< 2^254), read as a hex
 *   number and left-padded to 32 bytes; the zero hash while a round runs without proofs (no
 *   commitment exists).
 * - proofHash = sha256 of the canonical JSON (sorted keys, no whitespace) of
 *   `[{circuitId, proof, publicSignals}, ...]` in upload order; the zero hash when the
 *   contribution carries no proof, so "no proofs" is visible on chain instead of disguised as the
 *   hash of an empty list. Canonical JSON of the parsed proof, not the raw upload string, so a
 *   bundle may re-indent proofs without changing what they hash to; the circuit id is included so
 *   a proof cannot be relabelled as another circuit's.
 * - weight = credit amount = the contribution's sample count: FedAvg weights an update by its
 *   samples, so credits follow the update's influence on the model. (The data-validity proof
 *   proves the count once proofs are required.)
 * - credit account = the payout address the device gave at Join; without one, an address derived
 *   from the device id: keccak256(abi.encode(keccak256("fedproof.device-account.v1"),
 *   deviceId))[12:]. Nobody holds its key: credits claimed to it are a public per-device record.
 *   Devices sharing a payout address get one leaf with the sum of their amounts (the registry
 *   lets each account claim a round once).
 */
import {
  type Address,
  encodeAbiParameters,
  getAddress,
  type Hex,
  isAddress,
  keccak256,
  sha256,
  toBytes,
  zeroHash,
} from "viem";
import { InvalidArgumentError } from "../../common/errors.js";
import { canonicalJson } from "../job/job-spec.js";
import type { Contribution, Credit } from "./merkle.js";

/** One Groth16 proof as stored and bundled: snarkjs JSON and its public signals. */
export interface ProofRecord {
  circuitId: string;
  proofJson: string;
  publicSignals: string[];
}

export const deviceIdTag = keccak256(toBytes("fedproof.device.v1"));
export const deviceAccountTag = keccak256(toBytes("fedproof.device-account.v1"));

/** A proof as the leaf hashes it: the snarkjs proof object, not its JSON text. */
export interface LeafProof {
  circuitId: string;
  proof: unknown;
  publicSignals: readonly string[];
}

/** The raw fields of one verified contribution, as stored and as bundled. */
export interface ContributionLeafInput {
  deviceId: string;
  /** Hex, with or without 0x; "" when the device enrolled without a key. */
  publicKey: string;
  /** "" or a 0x address. */
  payoutAddress: string;
  /** Hex, with or without 0x; "" when the round ran without proofs. */
  commitment: string;
  samples: number;
  proofs: readonly LeafProof[];
}

export function deviceIdHash(deviceId: string, publicKey: string): Hex {
  if (deviceId === "") throw new InvalidArgumentError("device id must not be empty");
  return keccak256(
    encodeAbiParameters(
      [{ type: "bytes32" }, { type: "string" }, { type: "bytes" }],
      [deviceIdTag, deviceId, normaliseHex(publicKey, `public key of device ${deviceId}`)],
    ),
  );
}

export function commitmentBytes32(commitment: string, deviceId = "?"): Hex {
  // A number, not bytes: odd-length hex (bigint.toString(16)) is fine, leading zeros are not data.
  const hex = (commitment.startsWith("0x") ? commitment.slice(2) : commitment).toLowerCase();
  if (!/^[0-9a-f]*$/.test(hex)) {
    throw new InvalidArgumentError(`commitment of device ${deviceId} is not hex: "${commitment}"`);
  }
  const digits = hex.replace(/^0+/, "");
  if (digits === "") return zeroHash;
  if (digits.length > 64) {
    throw new InvalidArgumentError(
      `commitment of device ${deviceId} exceeds 32 bytes, a field element fits in 32`,
    );
  }
  return `0x${digits.padStart(64, "0")}`;
}

export function proofHashOf(proofs: readonly LeafProof[]): Hex {
  if (proofs.length === 0) return zeroHash;
  const canonical = canonicalJson(
    proofs.map(({ circuitId, proof, publicSignals }) => ({ circuitId, proof, publicSignals })),
  );
  return sha256(toBytes(canonical));
}

/** Parses stored proofs (JSON text) into leaf proofs; a malformed proof can never be anchored. */
export function leafProofsOf(records: readonly ProofRecord[], deviceId = "?"): LeafProof[] {
  return records.map((record, index) => {
    let proof: unknown;
    try {
      proof = JSON.parse(record.proofJson);
    } catch {
      throw new InvalidArgumentError(`proof ${index} of device ${deviceId} is not valid JSON`);
    }
    return { circuitId: record.circuitId, proof, publicSignals: [...record.publicSignals] };
  });
}

export function creditAccountOf(deviceHash: Hex, payoutAddress: string): Address {
  if (payoutAddress !== "") {
    if (!isAddress(payoutAddress, { strict: false })) {
      throw new InvalidArgumentError(`payout address is not an address: ${payoutAddress}`);
    }
    return getAddress(payoutAddress);
  }
  const derived = keccak256(
    encodeAbiParameters([{ type: "bytes32" }, { type: "bytes32" }], [deviceAccountTag, deviceHash]),
  );
  return getAddress(`0x${derived.slice(26)}`);
}

export interface RoundLeaf {
  input: ContributionLeafInput;
  contribution: Contribution;
  creditAccount: Address;
}

export interface RoundLeavesReturnType {
  /** One per contribution, in input order. */
  leaves: RoundLeaf[];
  contributions: Contribution[];
  /** One per account, amounts summed, sorted by account. */
  credits: Credit[];
}

export function roundLeaves(inputs: readonly ContributionLeafInput[]): RoundLeavesReturnType {
  const leaves = inputs.map((input): RoundLeaf => {
    if (!Number.isSafeInteger(input.samples) || input.samples < 0) {
      throw new InvalidArgumentError(
        `device ${input.deviceId} reports ${input.samples} samples, not a count`,
      );
    }
    const deviceId = deviceIdHash(input.deviceId, input.publicKey);
    return {
      input,
      contribution: {
        deviceId,
        commitment: commitmentBytes32(input.commitment, input.deviceId),
        proofHash: proofHashOf(input.proofs),
        weight: BigInt(input.samples),
      },
      creditAccount: creditAccountOf(deviceId, input.payoutAddress),
    };
  });
  const amounts = new Map<Address, bigint>();
  for (const leaf of leaves) {
    amounts.set(
      leaf.creditAccount,
      (amounts.get(leaf.creditAccount) ?? 0n) + leaf.contribution.weight,
    );
  }
  const credits = [...amounts.entries()]
    .sort(([a], [b]) => (a.toLowerCase() < b.toLowerCase() ? -1 : 1))
    .map(([account, amount]) => ({ account, amount }));
  return { leaves, contributions: leaves.map((leaf) => leaf.contribution), credits };
}

/** ε as the registry stores it: millionths, rounded; 0 without DP. */
export function epsilonMicroOf(epsilon: number): bigint {
  if (!Number.isFinite(epsilon) || epsilon <= 0) return 0n;
  return BigInt(Math.round(epsilon * 1e6));
}

/** "0x"-prefixed lower-case hex of even length; accepts input with or without the prefix. */
function normaliseHex(text: string, what: string): Hex {
  const hex = (text.startsWith("0x") || text.startsWith("0X") ? text.slice(2) : text).toLowerCase();
  if (!/^([0-9a-f]{2})*$/.test(hex))
    throw new InvalidArgumentError(`${what} is not hex: "${text}"`);
  return `0x${hex}`;
}
