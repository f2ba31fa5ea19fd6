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
 * - proofHash: keccak, in the ABI encoding the registry's `dispute` recomputes on chain, so
 *   that a contract can tell whether a proof it is handed is one the anchored leaf commits to:
 *     chunkHash_k = keccak256(abi.encode(bytes32 circuitIdHash, uint256[2] a, uint256[2][2] b,
 *                   uint256[2] c, uint256[] publicSignals)),  circuitIdHash = keccak256(circuitId)
 *     proofHash   = keccak256(abi.encode(bytes32[] chunkHashes, bytes32 kzgCommitmentsHash))
 *   with k over the contribution's proofs in upload order (UpdateNorm chunks and the DataValidity
 *   proof alike), b in the Solidity verifier's order (snarkjs's JSON lists each G2 coordinate as
 *   [c0, c1]; the verifier and the precompile take [c1, c0]), and kzgCommitmentsHash =
 *   keccak256 of the contribution's KZG commitments concatenated, 64 bytes each (x ‖ y,
 *   big-endian), or the zero hash when it has none. The circuit id is hashed in so that a proof
 *   cannot be relabelled as another circuit's; the numbers are hashed, not the JSON text, so a
 *   bundle may re-indent or reorder proof fields without changing the leaf. The proofHash is
 *   the zero hash when the contribution carries no proof, so "no proofs" is visible on chain.
 *   (Until issue 11 it was sha256 of the proofs' canonical JSON: bundles and anchors of that
 *   format no longer verify.)
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
  concatHex,
  encodeAbiParameters,
  getAddress,
  type Hex,
  isAddress,
  keccak256,
  toBytes,
  zeroHash,
} from "viem";
import { InvalidArgumentError } from "../../common/errors.js";
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
  /**
   * The contribution's KZG commitments, one per update chunk: "0x" + 128 hex digits (x ‖ y,
   * 32 bytes each, big-endian). Absent or empty: none.
   */
  kzgCommitments?: readonly string[];
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

/** A Groth16 proof as the snarkjs Solidity verifier takes it (b's coordinate pairs swapped). */
export interface SolidityProof {
  a: readonly [bigint, bigint];
  b: readonly [readonly [bigint, bigint], readonly [bigint, bigint]];
  c: readonly [bigint, bigint];
  publicSignals: readonly bigint[];
}

const fieldOrder = 1n << 256n;

function uint256Of(value: unknown, what: string): bigint {
  let parsed: bigint;
  try {
    if (typeof value !== "string" && typeof value !== "number" && typeof value !== "bigint") {
      throw new TypeError("not a number");
    }
    parsed = BigInt(value);
  } catch {
    throw new InvalidArgumentError(`${what} is not an integer: ${JSON.stringify(String(value))}`);
  }
  if (parsed < 0n || parsed >= fieldOrder) {
    throw new InvalidArgumentError(`${what} does not fit in a uint256`);
  }
  return parsed;
}

function pairOf(value: unknown, what: string): [bigint, bigint] {
  if (!Array.isArray(value) || value.length < 2) {
    throw new InvalidArgumentError(`${what} is not a coordinate pair`);
  }
  return [uint256Of(value[0], `${what}[0]`), uint256Of(value[1], `${what}[1]`)];
}

/**
 * The snarkjs proof JSON ({pi_a, pi_b, pi_c}) in the Solidity verifier's order, as
 * `snarkjs.groth16.exportSolidityCallData` writes it: G1 points without their projective "1",
 * each G2 coordinate as [c1, c0].
 */
export function solidityProofOf(proof: LeafProof, what = "proof"): SolidityProof {
  const json = proof.proof as { pi_a?: unknown; pi_b?: unknown; pi_c?: unknown } | null;
  if (typeof json !== "object" || json === null) {
    throw new InvalidArgumentError(`${what} is not a snarkjs proof object`);
  }
  const piB = json.pi_b;
  if (!Array.isArray(piB) || piB.length < 2) {
    throw new InvalidArgumentError(`${what}.pi_b is not a G2 point`);
  }
  const [x0, x1] = pairOf(piB[0], `${what}.pi_b[0]`);
  const [y0, y1] = pairOf(piB[1], `${what}.pi_b[1]`);
  return {
    a: pairOf(json.pi_a, `${what}.pi_a`),
    b: [
      [x1, x0],
      [y1, y0],
    ],
    c: pairOf(json.pi_c, `${what}.pi_c`),
    publicSignals: proof.publicSignals.map((signal, index) =>
      uint256Of(signal, `${what} public signal ${index}`),
    ),
  };
}

export function circuitIdHash(circuitId: string): Hex {
  return keccak256(toBytes(circuitId));
}

/** keccak256(abi.encode(circuitIdHash, a, b, c, publicSignals)), as the registry's dispute. */
export function chunkHashOf(proof: LeafProof, what = "proof"): Hex {
  const { a, b, c, publicSignals } = solidityProofOf(proof, what);
  return keccak256(
    encodeAbiParameters(
      [
        { type: "bytes32" },
        { type: "uint256[2]" },
        { type: "uint256[2][2]" },
        { type: "uint256[2]" },
        { type: "uint256[]" },
      ],
      [circuitIdHash(proof.circuitId), a, b, c, publicSignals],
    ),
  );
}

/** keccak256 of the commitments concatenated (64 bytes each); the zero hash for none. */
export function kzgCommitmentsHashOf(
  commitments: readonly string[] | undefined,
  deviceId = "?",
): Hex {
  if (!commitments || commitments.length === 0) return zeroHash;
  const parts = commitments.map((commitment, index) => {
    if (!/^0x[0-9a-fA-F]{128}$/.test(commitment)) {
      throw new InvalidArgumentError(
        `KZG commitment ${index} of device ${deviceId} is not 0x and 128 hex digits (x ‖ y)`,
      );
    }
    return commitment.toLowerCase() as Hex;
  });
  return keccak256(concatHex(parts));
}

export interface ProofHashParts {
  /** One per proof, in upload order. */
  chunkHashes: Hex[];
  kzgCommitmentsHash: Hex;
  /** keccak256(abi.encode(chunkHashes, kzgCommitmentsHash)); zero without proofs. */
  proofHash: Hex;
}

/** The chunk hashes, KZG commitments hash and proof hash of one contribution's leaf. */
export function proofHashParts(
  proofs: readonly LeafProof[],
  kzgCommitments?: readonly string[],
  deviceId = "?",
): ProofHashParts {
  const chunkHashes = proofs.map((proof, index) =>
    chunkHashOf(proof, `proof ${index} of device ${deviceId}`),
  );
  const kzgCommitmentsHash = kzgCommitmentsHashOf(kzgCommitments, deviceId);
  const proofHash =
    proofs.length === 0
      ? zeroHash
      : keccak256(
          encodeAbiParameters(
            [{ type: "bytes32[]" }, { type: "bytes32" }],
            [chunkHashes, kzgCommitmentsHash],
          ),
        );
  return { chunkHashes, kzgCommitmentsHash, proofHash };
}

export function proofHashOf(
  proofs: readonly LeafProof[],
  kzgCommitments?: readonly string[],
  deviceId = "?",
): Hex {
  return proofHashParts(proofs, kzgCommitments, deviceId).proofHash;
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
        proofHash: proofHashOf(input.proofs, input.kzgCommitments, input.deviceId),
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
