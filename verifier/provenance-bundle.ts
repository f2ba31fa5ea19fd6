/**
 * A provenance bundle: everything a verifier needs, next to the chain, to re-check a job's rounds
 * (`fedproof verify --bundle`). It holds the raw contribution fields (device id, key, payout
 * address, commitment, samples, proofs) from which the anchored leaves are derived
 * (round-leaves.ts); the derived values and Merkle proofs it also carries are conveniences for
 * readers and on-chain disputes, and the verifier recomputes rather than trusts them.
 *
 * Hashes that live on chain are written as 0x-prefixed bytes32; `updateHash` stays the artifact
 * store's sha256 name.
 *
 * What the chain does not anchor but the proofs' public signals are checked against travels here
 * too (protocol/proofs/check-contribution.ts): the job spec (which the anchored spec hash pins),
 * each round's clip norm, and each contribution's enrolment (dataset commitment and signature,
 * beside the public key the device id hash pins).
 *
 * KZG: each contribution carries its chunks' KZG commitments and openings (never the blinding,
 * never update bytes), and the job part carries the KZG SRS they are checked against, whose hash
 * the chain pins inside the job's verification-key hash (protocol/provenance/job-vkey-hash.ts).
 * Both are optional: bundles from before KZG commitments still parse.
 *
 * For the aggregation check (verify-model.ts replays protocol/aggregation's rule), the bundle
 * carries the job's initial model bytes and each linear-strategy round's exact aggregate S
 * (protocol/aggregation/aggregate-codec.ts), both base64: sums over all contributions, never a
 * single update. Robust-strategy rounds carry no `aggregate`, and the zero `aggregateHash` the chain anchors for them.
 * A linear round of a job with proofs also carries the aggregate KZG blinding R = Σ wᵢ·ρᵢ per chunk,
 * with which S opens Σ wᵢ·Cᵢ (never one device's blinding).
 */
import type { Groth16VerificationKey } from "snarkjs";
import { type Address, bytesToHex, getAddress, type Hex, isAddress, sha256, zeroHash } from "viem";
import { z } from "zod";
import { InvalidArgumentError } from "../common/errors.js";
import { fetchChainId } from "../coordinator/chain/chain-id.js";
import type { JobInfo__Output } from "../proto/generated/fedproof/v1/JobInfo.js";
import type { RoundProvenance__Output } from "../proto/generated/fedproof/v1/RoundProvenance.js";
import { type JobSpec, jobSpecSchema } from "../protocol/job/job-spec.js";
import {
  jobVerificationKeyHash,
  type VerificationKeys,
} from "../protocol/provenance/job-vkey-hash.js";
import {
  buildMerkleTree,
  buildRoundTree,
  contributionLeaf,
  creditLeaf,
  sha256HexToBytes32,
} from "../protocol/provenance/merkle.js";
import {
  type ContributionLeafInput,
  epsilonMicroOf,
  leafProofsOf,
  proofHashParts,
  roundLeaves,
} from "../protocol/provenance/round-leaves.js";

/**
 * v2 (issue 11): proof hashes are keccak over the ABI-encoded chunk hashes and KZG commitments
 * hash (round-leaves.ts), rounds carry the anchored aggregate hash. v1 bundles (sha256 proof
 * hashes) no longer verify: their leaves are not the ones v2 anchors.
 */
export const BUNDLE_FORMAT = "fedproof.provenance.v2";

export interface BundleProof {
  circuitId: string;
  /** The snarkjs proof object, unchanged. */
  proof: unknown;
  publicSignals: string[];
}

export interface BundleContribution {
  deviceId: string;
  /** Hex of the key the device enrolled with ("" when none). */
  publicKey: string;
  /**
   * The payout address given at Join ("" when none); null when the source did not say, in which
   * case the round's credits cannot be checked.
   */
  payoutAddress: string | null;
  updateHash: string;
  /** Hex of the Poseidon commitment as stored ("" before proofs existed). */
  commitment: string;
  samples: number;
  proofs: BundleProof[];
  /**
   * Hex of the dataset commitment the device enrolled with ("" when none); absent in bundles
   * from before it was exported, whose data proofs then cannot be checked.
   */
  datasetCommitment?: string;
  /** Hex of the device's EdDSA-Poseidon signature over `datasetCommitment` ("" when none). */
  datasetSignature?: string;
  /**
   * Per UpdateNorm chunk proof, in chunk order: the KZG commitment C and its opening π at the
   * proof's kzgChallenge to its evaluation ("0x" + 128 hex, affine x ‖ y). Absent in bundles
   * from before KZG commitments.
   */
  kzgCommitments?: Hex[];
  kzgOpenings?: Hex[];
  /** Derived (round-leaves.ts): the anchored bytes32 device id, proof hash and credit account. */
  deviceIdHash: Hex;
  proofHash: Hex;
  /** Derived: one per proof, what `dispute` recomputes; proofHash hashes them with the next. */
  chunkHashes: Hex[];
  kzgCommitmentsHash: Hex;
  creditAccount: Address | null;
  /** Siblings from this contribution's leaf up to `contributionsRoot`; absent when unknown. */
  merkleProof?: Hex[];
}

export interface BundleCredit {
  account: Address;
  /** Decimal. */
  amount: string;
  /** Siblings from this credit's leaf up to `creditsRoot`. */
  merkleProof?: Hex[];
}

export interface BundleRound {
  round: number;
  modelHash: Hex;
  parentHash: Hex;
  contributionsRoot: Hex;
  /** Null when payout addresses were unknown to the source. */
  creditsRoot: Hex | null;
  contributors: number;
  /** Decimal; null with `creditsRoot`. */
  totalCredits: string | null;
  epsilon: number;
  /** ε × 10⁶ as anchored, decimal. */
  epsilonMicro: string;
  /**
   * The clip norm C this round's updates were held to (adaptive clipping moves it); absent in
   * bundles from before it was exported.
   */
  clipNorm?: number;
  /**
   * s_r of the job's challenge chain (hex), which every proof context of the round mixes in;
   * the spec's challengeCommitment pins it. Absent when the source did not say.
   */
  challengeSeed?: string;
  /**
   * Hash of the round's exact integer aggregate, as anchored; the zero hash when the strategy is
   * not linear. Absent when the source did not say (then not checked).
   */
  aggregateHash?: Hex;
  /** "" while the round is not anchored. */
  anchorTx: string;
  /**
   * The round's exact aggregate artifact (S, W; protocol/aggregation/aggregate-codec.ts), base64.
   * Absent for robust strategies, and in bundles from sources that do not serve it.
   */
  aggregate?: string;
  /**
   * R per chunk: (Σᵢ wᵢ·ρ0ᵢₖ, Σᵢ wᵢ·ρ1ᵢₖ) mod r of the contributions' KZG blindings, with which S
   * opens Σᵢ wᵢ·Cᵢ (circuits/README.md, "The aggregate check"); with central DP the noise's
   * blinding is added, and S + N opens Σᵢ wᵢ·Cᵢ + C_N. Absent without proofs and in bundles from
   * sources that do not serve it.
   */
  aggregateBlinding?: [Hex, Hex][];
  /** With central DP in a job with proofs: the noise's commitments and norm proofs. */
  noise?: BundleNoiseProof;
  contributions: BundleContribution[];
  credits: BundleCredit[];
}

/**
 * The coordinator's central-DP noise N as a round's bundle carries it (coordinator/privacy/
 * prove-noise.ts): per chunk, the noise circuit's proof that the chunk's values are in range and
 * add their Σ N² to the running sum under the spec's bound, the KZG commitment C_N and its
 * opening at the proof's challenge. Never N.
 */
export interface BundleNoiseProof {
  circuitId: string;
  proofs: { proof: unknown; publicSignals: string[] }[];
  kzgCommitments: Hex[];
  kzgOpenings: Hex[];
}

export interface BundleChain {
  chainId: number;
  registry: Address;
  /** The registry's job id, decimal. */
  chainJobId: string;
}

export interface ProvenanceBundle {
  format: typeof BUNDLE_FORMAT;
  jobId: string;
  chain: BundleChain;
  specHash: Hex;
  /** The job spec the hash was taken over, when the source has it. */
  spec?: JobSpec;
  initialModelHash: Hex;
  /**
   * The initial model file (float32 weights), base64: where the verifier's replay of the
   * aggregation starts. Absent in bundles from sources that do not serve it.
   */
  initialModel?: string;
  /** jobVerificationKeyHash(verificationKeys): zero when the job runs without proofs. */
  vkeyHash: Hex;
  /** By circuit id. */
  verificationKeys: Record<string, Groth16VerificationKey>;
  /**
   * The job's KZG SRS: `srs` is base64 of encodeSrs (protocol/proving/kzg.ts), `hash` its
   * srsHash. jobVerificationKeyHash folds the hash of the bytes in, so the chain pins them.
   * Absent for jobs without proofs and in bundles from before KZG commitments.
   */
  kzgSrs?: BundleKzgSrs;
  /** Round 1 first. */
  rounds: BundleRound[];
}

export interface BundleKzgSrs {
  hash: Hex;
  srs: string;
}

/** The bundle's SRS part from encodeSrs bytes. */
export function bundleKzgSrs(encoded: Uint8Array): BundleKzgSrs {
  return { hash: sha256(encoded), srs: bytesToBase64(encoded) };
}

/** The SRS bytes of a bundle, or undefined when it has none. */
export function bundleSrsBytes(bundle: Pick<ProvenanceBundle, "kzgSrs">): Uint8Array | undefined {
  return bundle.kzgSrs ? base64ToBytes(bundle.kzgSrs.srs) : undefined;
}

/**
 * What a verifier recomputes the pinned verification-key hash from: the keys, and the hash of
 * the SRS bytes the bundle actually carries (never its stated hash).
 */
export function bundleVerificationKeyHash(
  bundle: Pick<ProvenanceBundle, "verificationKeys" | "kzgSrs">,
): Hex {
  const srs = bundleSrsBytes(bundle);
  return jobVerificationKeyHash(bundle.verificationKeys, srs ? sha256(srs) : undefined);
}

// Not Buffer: this file runs in browsers too.
function bytesToBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

function base64ToBytes(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

export interface BuildBundleRoundParameters {
  round: number;
  /** sha256 hex, with or without 0x. */
  modelHash: string;
  parentHash: string;
  epsilon: number;
  /** The round's clip norm C, when the source knows it. */
  clipNorm?: number;
  /** The round's challenge seed (hex), when the source knows it. */
  challengeSeed?: string;
  anchorTx: string;
  /** The round's exact aggregate artifact, when the round has one (linear strategies). */
  aggregateBytes?: Uint8Array;
  /** The round record's aggregate hash ("" → the zero hash); undefined when unknown. */
  aggregateHash?: string;
  /** The round's aggregate KZG blinding R per chunk, when the round has one. */
  aggregateBlinding?: readonly (readonly [string, string])[];
  /** The round's DP noise commitments and proofs, when the round has them. */
  noise?: BundleNoiseProof;
  contributions: readonly BundleRoundContributionInput[];
  /** False when payout addresses are unknown: the credits part is left out (null). */
  payoutsKnown?: boolean;
  /** Include per-leaf Merkle proofs (default true). */
  merkleProofs?: boolean;
}

export interface BundleRoundContributionInput extends ContributionLeafInput {
  updateHash: string;
  /** The device's enrolment, when the source knows it (hex; "" when none). */
  datasetCommitment?: string;
  datasetSignature?: string;
  /** The chunks' KZG commitments and openings (G1Hex), when the source has them. */
  kzgCommitments?: readonly string[];
  kzgOpenings?: readonly string[];
}

/** One round of a bundle from its raw contributions: leaves, roots, and Merkle proofs. */
export function buildBundleRound(parameters: BuildBundleRoundParameters): BundleRound {
  const payoutsKnown = parameters.payoutsKnown ?? true;
  const withProofs = parameters.merkleProofs ?? true;
  const inputs = parameters.contributions.map((c) => ({
    ...c,
    payoutAddress: payoutsKnown ? c.payoutAddress : "",
  }));
  const { leaves, contributions, credits } = roundLeaves(inputs);
  const contributionsTree = buildMerkleTree(contributions.map(contributionLeaf));
  const round = buildRoundTree({ contributions, credits });
  const creditsTree = buildMerkleTree(credits.map(creditLeaf));
  return {
    round: parameters.round,
    modelHash: sha256HexToBytes32(parameters.modelHash, `model hash of round ${parameters.round}`),
    parentHash: sha256HexToBytes32(
      parameters.parentHash,
      `parent hash of round ${parameters.round}`,
    ),
    contributionsRoot: round.contributionsRoot,
    creditsRoot: payoutsKnown ? round.creditsRoot : null,
    contributors: round.contributors,
    totalCredits: payoutsKnown ? round.totalCredits.toString() : null,
    epsilon: parameters.epsilon,
    epsilonMicro: epsilonMicroOf(parameters.epsilon).toString(),
    ...(parameters.clipNorm === undefined ? {} : { clipNorm: parameters.clipNorm }),
    ...(parameters.challengeSeed ? { challengeSeed: parameters.challengeSeed } : {}),
    ...(parameters.aggregateHash === undefined
      ? {}
      : {
          aggregateHash:
            parameters.aggregateHash === ""
              ? zeroHash
              : sha256HexToBytes32(
                  parameters.aggregateHash,
                  `aggregate hash of round ${parameters.round}`,
                ),
        }),
    anchorTx: parameters.anchorTx,
    ...(parameters.aggregateBytes ? { aggregate: base64OfBytes(parameters.aggregateBytes) } : {}),
    ...(parameters.aggregateBlinding?.length
      ? {
          aggregateBlinding: parameters.aggregateBlinding.map(
            ([r0, r1]) => [r0.toLowerCase(), r1.toLowerCase()] as [Hex, Hex],
          ),
        }
      : {}),
    ...(parameters.noise ? { noise: parameters.noise } : {}),
    contributions: leaves.map((leaf, index) => ({
      deviceId: leaf.input.deviceId,
      publicKey: leaf.input.publicKey,
      payoutAddress: payoutsKnown ? leaf.input.payoutAddress : null,
      updateHash: parameters.contributions[index]!.updateHash,
      commitment: leaf.input.commitment,
      samples: leaf.input.samples,
      proofs: leaf.input.proofs.map((p) => ({
        circuitId: p.circuitId,
        proof: p.proof,
        publicSignals: [...p.publicSignals],
      })),
      ...enrolmentOf(parameters.contributions[index]!),
      ...kzgOf(parameters.contributions[index]!),
      deviceIdHash: leaf.contribution.deviceId,
      proofHash: leaf.contribution.proofHash,
      ...chunkFields(leaf.input),
      creditAccount: payoutsKnown ? leaf.creditAccount : null,
      ...(withProofs
        ? { merkleProof: contributionsTree.proof(contributionLeaf(leaf.contribution)) }
        : {}),
    })),
    credits: payoutsKnown
      ? credits.map((credit) => ({
          account: credit.account,
          amount: credit.amount.toString(),
          ...(withProofs ? { merkleProof: creditsTree.proof(creditLeaf(credit)) } : {}),
        }))
      : [],
  };
}

function chunkFields(
  input: ContributionLeafInput,
): Pick<BundleContribution, "chunkHashes" | "kzgCommitmentsHash"> {
  const { chunkHashes, kzgCommitmentsHash } = proofHashParts(
    input.proofs,
    input.kzgCommitments,
    input.deviceId,
  );
  return { chunkHashes, kzgCommitmentsHash };
}

function enrolmentOf(
  input: BundleRoundContributionInput,
): Pick<BundleContribution, "datasetCommitment" | "datasetSignature"> {
  return {
    ...(input.datasetCommitment === undefined
      ? {}
      : { datasetCommitment: input.datasetCommitment }),
    ...(input.datasetSignature === undefined ? {} : { datasetSignature: input.datasetSignature }),
  };
}

function kzgOf(
  input: BundleRoundContributionInput,
): Pick<BundleContribution, "kzgCommitments" | "kzgOpenings"> {
  const points = (list: readonly string[]) => list.map((p) => p.toLowerCase() as Hex);
  return {
    ...(input.kzgCommitments?.length ? { kzgCommitments: points(input.kzgCommitments) } : {}),
    ...(input.kzgOpenings?.length ? { kzgOpenings: points(input.kzgOpenings) } : {}),
  };
}

export interface FetchBundleChain {
  /** Defaults to the registry the coordinator names in JobInfo. */
  registry?: string;
  /** Asked from `rpcUrl` when omitted. */
  chainId?: number;
  rpcUrl?: string;
  /** Defaults to the chain job id the coordinator names in JobInfo. */
  chainJobId?: string;
}

export interface BundleFromCoordinatorParameters {
  jobId: string;
  /** The job as the coordinator's Jobs.GetJob answered. */
  info: JobInfo__Output;
  /** Provenance.GetRound for one round of the job, over whichever transport the caller has. */
  getRound(round: number): Promise<RoundProvenance__Output>;
  chain: FetchBundleChain;
  verificationKeys?: VerificationKeys;
  /** The job's KZG SRS (encodeSrs bytes), fetched by the hash its proof setup names. */
  kzgSrs?: Uint8Array;
}

/**
 * The bundle of a job as the coordinator's public Jobs and Provenance services describe it, with
 * Merkle proofs computed here from what they returned: the spec the job runs under, each round's
 * clip norm and each contribution's enrolment and payout address. The transport is the caller's:
 * native gRPC in `fetchBundleFromCoordinator` (fetch-bundle.ts), gRPC-web in the web app.
 */
export async function bundleFromCoordinator(
  parameters: BundleFromCoordinatorParameters,
): Promise<ProvenanceBundle> {
  const { jobId, info, chain } = parameters;
  const chainJobId = chain.chainJobId ?? info.chainJobId;
  if (!chainJobId) {
    throw new InvalidArgumentError(
      `the coordinator does not say which registry job ${jobId} is: pass its chain job id`,
    );
  }
  const registry = chain.registry || info.registry;
  if (!registry) {
    throw new InvalidArgumentError(
      `the coordinator does not say which registry anchors job ${jobId}: pass the registry address`,
    );
  }
  let chainId = chain.chainId;
  if (chainId === undefined) {
    if (!chain.rpcUrl) {
      throw new InvalidArgumentError("pass the chain id, or an RPC URL to ask for it");
    }
    chainId = await fetchChainId(chain.rpcUrl);
  }
  const rounds: BundleRound[] = [];
  let spec: unknown;
  let initialModel: Uint8Array | undefined;
  const done = new Set(["ROUND_STATE_COMPLETED", "ROUND_STATE_ANCHORED"]);
  const summaries = [...info.rounds].sort((a, b) => a.round - b.round);
  for (const summary of summaries) {
    if (!done.has(String(summary.state)) || !summary.modelHash) break;
    const provenance = await parameters.getRound(summary.round);
    if (provenance.specJson && spec === undefined) spec = parseSpecJson(provenance.specJson);
    if (provenance.initialModel && provenance.initialModel.byteLength > 0) {
      initialModel = new Uint8Array(provenance.initialModel);
    }
    const clipNorm = provenance.round?.clipNorm || summary.clipNorm;
    rounds.push(
      buildBundleRound({
        round: summary.round,
        modelHash: summary.modelHash,
        parentHash: provenance.parentHash || summary.globalModelHash,
        epsilon: summary.epsilon,
        ...(clipNorm ? { clipNorm } : {}),
        challengeSeed: provenance.round?.challengeSeed || summary.challengeSeed,
        anchorTx: provenance.anchorTx || summary.anchorTx,
        aggregateHash: provenance.aggregateHash,
        ...(provenance.aggregate && provenance.aggregate.byteLength > 0
          ? { aggregateBytes: new Uint8Array(provenance.aggregate) }
          : {}),
        ...(provenance.aggregateBlinding?.length
          ? {
              aggregateBlinding: provenance.aggregateBlinding.map((pair) => {
                const hex = hexOf(pair).padStart(128, "0");
                return [`0x${hex.slice(0, 64)}`, `0x${hex.slice(64)}`] as const;
              }),
            }
          : {}),
        ...(provenance.noise?.proofs.length
          ? {
              noise: {
                circuitId: provenance.noise.circuitId,
                proofs: leafProofsOf(provenance.noise.proofs, "the DP noise").map(
                  ({ proof, publicSignals }) => ({ proof, publicSignals: [...publicSignals] }),
                ),
                kzgCommitments: provenance.noise.kzgCommitments.map((p) => `0x${hexOf(p)}` as Hex),
                kzgOpenings: provenance.noise.kzgOpenings.map((p) => `0x${hexOf(p)}` as Hex),
              },
            }
          : {}),
        contributions: provenance.contributions.map((c) => ({
          deviceId: c.deviceId,
          publicKey: hexOf(c.publicKey),
          payoutAddress: c.payoutAddress,
          commitment: hexOf(c.commitment),
          samples: c.samples,
          updateHash: c.updateHash,
          proofs: leafProofsOf(c.proofs, c.deviceId),
          datasetCommitment: hexOf(c.datasetCommitment),
          datasetSignature: hexOf(c.datasetSignature),
          kzgCommitments: (c.kzgCommitments ?? []).map((p) => `0x${hexOf(p)}`),
          kzgOpenings: (c.kzgOpenings ?? []).map((p) => `0x${hexOf(p)}`),
        })),
      }),
    );
  }
  const verificationKeys = { ...(parameters.verificationKeys ?? {}) };
  const kzgSrs = parameters.kzgSrs ? bundleKzgSrs(parameters.kzgSrs) : undefined;
  return {
    format: BUNDLE_FORMAT,
    jobId,
    chain: normaliseChain({ chainId, registry: registry as Address, chainJobId }),
    specHash: sha256HexToBytes32(info.specHash, "spec hash"),
    ...(spec === undefined ? {} : { spec: spec as JobSpec }),
    initialModelHash: sha256HexToBytes32(info.initialModelHash, "initial model hash"),
    ...(initialModel ? { initialModel: base64OfBytes(initialModel) } : {}),
    vkeyHash: jobVerificationKeyHash(verificationKeys, kzgSrs?.hash),
    verificationKeys,
    ...(kzgSrs ? { kzgSrs } : {}),
    rounds,
  };
}

/** Bytes as unprefixed hex ("" for none): Buffers from grpc-js, Uint8Arrays from gRPC-web. */
function hexOf(bytes: Uint8Array | null | undefined): string {
  return bytes && bytes.byteLength > 0 ? bytesToHex(bytes).slice(2) : "";
}

function parseSpecJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new BundleFormatError("the coordinator's spec_json is not JSON");
  }
}

export function normaliseChain(chain: BundleChain): BundleChain {
  if (!isAddress(chain.registry, { strict: false })) {
    throw new InvalidArgumentError(`registry is not an address: ${chain.registry}`);
  }
  return {
    chainId: chain.chainId,
    registry: getAddress(chain.registry),
    chainJobId: chain.chainJobId,
  };
}

const hex32 = z.string().regex(/^0x[0-9a-fA-F]{64}$/, "a 0x-prefixed 32-byte hex string");
const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, "an address");
const decimal = z.string().regex(/^[0-9]+$/, "a decimal integer");
const hex = z.string().regex(/^(0x)?([0-9a-fA-F]{2})*$/, "hex bytes");
const g1 = z.string().regex(/^0x[0-9a-fA-F]{128}$/, "a 0x-prefixed 64-byte G1 point (x ‖ y)");
const base64 = z
  .string()
  .regex(/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/, "base64");

const bundleSchema = z.object({
  format: z.literal(BUNDLE_FORMAT),
  jobId: z.string(),
  chain: z.object({
    chainId: z.number().int().positive(),
    registry: address,
    chainJobId: decimal,
  }),
  specHash: hex32,
  // Checked against the job spec schema, but kept as written: the verifier hashes it.
  spec: z
    .record(z.string(), z.unknown())
    .refine((spec) => jobSpecSchema.safeParse(spec).success, {
      error: (issue) => {
        const first = jobSpecSchema.safeParse(issue.input).error?.issues[0];
        return `not a job spec: ${first ? `${["spec", ...first.path.map(String)].join(".")}: ${first.message}` : "invalid"}`;
      },
    })
    .optional(),
  initialModelHash: hex32,
  initialModel: base64.optional(),
  vkeyHash: hex32,
  verificationKeys: z.record(z.string(), z.looseObject({ IC: z.array(z.array(z.string())) })),
  kzgSrs: z
    .object({
      hash: hex32,
      srs: z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, "base64"),
    })
    .optional(),
  rounds: z.array(
    z.object({
      round: z.number().int().positive(),
      modelHash: hex32,
      parentHash: hex32,
      contributionsRoot: hex32,
      creditsRoot: hex32.nullable(),
      contributors: z.number().int().min(0),
      totalCredits: decimal.nullable(),
      epsilon: z.number(),
      epsilonMicro: decimal,
      clipNorm: z.number().positive().finite().optional(),
      challengeSeed: z
        .string()
        .regex(/^[0-9a-f]{64}$/, "64 lowercase hex digits")
        .optional(),
      aggregateHash: hex32.optional(),
      anchorTx: z.string(),
      aggregate: base64.optional(),
      aggregateBlinding: z.array(z.tuple([hex32, hex32])).optional(),
      noise: z
        .object({
          circuitId: z.string(),
          proofs: z.array(z.object({ proof: z.unknown(), publicSignals: z.array(z.string()) })),
          kzgCommitments: z.array(g1),
          kzgOpenings: z.array(g1),
        })
        .optional(),
      contributions: z.array(
        z.object({
          deviceId: z.string().min(1),
          publicKey: z.string(),
          payoutAddress: z.string().nullable(),
          updateHash: z.string(),
          commitment: z.string(),
          samples: z.number().int().min(0),
          proofs: z.array(
            z.object({
              circuitId: z.string(),
              proof: z.unknown(),
              publicSignals: z.array(z.string()),
            }),
          ),
          datasetCommitment: hex.optional(),
          datasetSignature: hex.optional(),
          kzgCommitments: z.array(g1).optional(),
          kzgOpenings: z.array(g1).optional(),
          deviceIdHash: hex32,
          proofHash: hex32,
          chunkHashes: z.array(hex32),
          kzgCommitmentsHash: hex32,
          creditAccount: address.nullable(),
          merkleProof: z.array(hex32).optional(),
        }),
      ),
      credits: z.array(
        z.object({
          account: address,
          amount: decimal,
          merkleProof: z.array(hex32).optional(),
        }),
      ),
    }),
  ),
});

export class BundleFormatError extends InvalidArgumentError {
  override name = "BundleFormatError";
}

/** Checks the shape of an untrusted bundle (a file a verifier was handed), naming the bad field. */
export function parseProvenanceBundle(value: unknown): ProvenanceBundle {
  const result = bundleSchema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const field = ["bundle", ...issue.path.map(String)].join(".");
    throw new BundleFormatError(`not a provenance bundle: ${field}: ${issue.message}`);
  }
  const srs = result.data.kzgSrs;
  if (srs && sha256(base64ToBytes(srs.srs)).toLowerCase() !== srs.hash.toLowerCase()) {
    throw new BundleFormatError(
      `not a provenance bundle: bundle.kzgSrs.hash: the SRS bytes hash to ${sha256(base64ToBytes(srs.srs))}, not ${srs.hash}`,
    );
  }
  // The spec stays as written: the verifier hashes it, and re-parsing could change it.
  return result.data as unknown as ProvenanceBundle;
}

/** Bytes as standard base64 (with padding); btoa, as browsers have no Buffer. */
export function base64OfBytes(bytes: Uint8Array): string {
  let binary = "";
  // In slices: String.fromCharCode(...) of a whole model would overflow the argument stack.
  for (let offset = 0; offset < bytes.length; offset += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(offset, offset + 0x8000));
  }
  return btoa(binary);
}

/** Inverse of base64OfBytes; throws BundleFormatError on text that is not base64. */
export function bytesOfBase64(text: string, what: string): Uint8Array {
  let binary: string;
  try {
    binary = atob(text);
  } catch {
    throw new BundleFormatError(`${what} is not base64`);
  }
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
