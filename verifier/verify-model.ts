/**
 * `fedproof verify`: what a verifier holding a model file, a chain endpoint and a provenance
 * bundle can establish about where the model came from.
 *
 * 1. The file's sha256 must be anchored on the registry; its ancestry is walked on chain back to
 *    the job's initial model (walk-ancestry.ts, which also checks that each
 *    round's event roots hash to the stored round root).
 * 2. The bundle must describe that job: registry, chain, job id, spec hash, initial model and the
 *    verification keys the job pinned.
 * 3. For every round of the ancestry, the anchored leaves are recomputed from the bundle's raw
 *    fields (round-leaves.ts): each contribution is checked against the anchored contributions
 *    root with its own Merkle proof (which names the device that does not match), then the whole
 *    set is rebuilt into the root (which catches contributions left out or added), and the
 *    credits likewise.
 * 4. Every Groth16 proof is checked against the job's pinned verification key, and its public
 *    signals exactly as the coordinator's verify worker checked them before accepting the update
 *    (protocol/proofs/check-contribution.ts, one function for both): C2 from the spec and the
 *    round's clip norm, chunks covering the model's parameters (counted from the model file),
 *    one data-validity proof matching the spec, the device's enrolment and the round, the
 *    proven sample count equal to the anchored weight, the anchored commitment. A job that pins
 *    no key and carries no proofs is reported as "no proofs", never as verified.
 *
 * 5. The aggregation is replayed (`replayAggregation`): from the bundle's initial model (whose
 *    sha256 must be the registered initial model hash) and no strategy state, each round's exact
 *    aggregate S (protocol/aggregation; its sha256 must be the round's aggregateHash, its divisor W
 *    the round's weights, or the fixed DP denominator) goes through the strategy's binary32 rule,
 *    and the resulting model's hash must be the round's anchored model hash; the last one is the
 *    model file's. A round that differs is a mismatch naming it; the rounds after it cannot be
 *    replayed (their parent's bytes are unknown) and are "unchecked". Robust strategies (median,
 *    trimmed mean, Krum) are "not verifiable" without the updates: a note, never verified, and
 *    `ok` can still be true for them, as it means "everything checkable matched". A round whose
 *    bundle carries no aggregate (older bundles, the Provenance service today) is "unchecked"
 *    with a note; once the anchor commits to an aggregate hash, a missing aggregate is reported
 *    as unchecked (not ok).
 * 6. In a job with proofs, S must be the weighted sum of the round's committed contributions
 *    (check-aggregate-commitments.ts): every KZG opening verifies against the pinned SRS and, per
 *    chunk, Σ wᵢ·Cᵢ = commitment of (S, R) with the proven weights and the bundle's aggregate
 *    blinding R; a bundle without the SRS, the blinding or the commitments is unchecked (not ok).
 *    A round is "verified" only when the replay and this check hold; "replayed (sums unchecked)"
 *    when only the replay ran (jobs without proofs). With central DP the coordinator commits to
 *    its noise N and proves Σ N² ≤ c2, the bound the spec fixes (noise-bound.ts): the check is
 *    then Σ Cᵢ + C_N = commitment of (S + N, R) with the noise proofs verified, and the status
 *    "verified up to noise" with X = scale·√c2, the proven bound on ‖N‖ in model units.
 *
 * Mismatches are collected, not thrown: the report names every one. What could not be checked
 * (no spec in the bundle, proofs without keys, unknown payout addresses…) is listed in
 * `unchecked`, and the report is then not ok either. Only a chain that cannot be reached is an
 * error (nothing was verified).
 */
import type { Groth16VerificationKey } from "snarkjs";
import * as snarkjs from "snarkjs";
import { type Address, getAddress, type Hex, hexToBytes, sha256, zeroHash } from "viem";
import { createChainClients } from "../coordinator/chain/chain-clients.js";
import { fetchChainId } from "../coordinator/chain/chain-id.js";
import type {
  AncestryRound,
  ContributionDisputedEvent,
  RegistryJob,
  VerifierRegisteredEvent,
} from "../coordinator/chain/registry-client.js";
import {
  AncestryMismatchError,
  ModelNotAnchoredError,
} from "../coordinator/chain/registry-errors.js";
import { createRegistryReads } from "../coordinator/chain/registry-reads.js";
import { walkAncestry } from "../coordinator/chain/walk-ancestry.js";
import { decodeAggregate } from "../protocol/aggregation/aggregate-codec.js";
import { isLinearStrategySpec } from "../protocol/aggregation/linear-strategies.js";
import { nextModel, type RuleState } from "../protocol/aggregation/model-rule.js";
import { noiseProofParameters } from "../protocol/aggregation/noise-bound.js";
import { aggregationWeight } from "../protocol/job/aggregation-weight.js";
import { type JobSpec, jobSpecSchema, specHash, strategySpecOf } from "../protocol/job/job-spec.js";
import { samplingPopulation } from "../protocol/job/sampling-population.js";
import { type StrategySpec, strategySpecSchema } from "../protocol/job/strategy-spec.js";
import { decodeModel, encodeModel } from "../protocol/model/weights.js";
import { batchVerifyGroth16 } from "../protocol/proofs/batch-verify-groth16.js";
import {
  type CheckContributionParameters,
  type ContributionCheck,
  checkContribution,
} from "../protocol/proofs/check-contribution.js";
import { circuitOfId } from "../protocol/proofs/circuit-id.js";
import {
  type DataAttestation,
  dataAttestationOf,
  jobAttesterRoot,
} from "../protocol/proofs/data-attestation.js";
import { parseDataValiditySignals } from "../protocol/proofs/public-signals.js";
import {
  buildMerkleTree,
  type Contribution,
  type Credit,
  contributionLeaf,
  creditLeaf,
  verifyMerkleProof,
} from "../protocol/provenance/merkle.js";
import {
  circuitIdHash,
  commitmentBytes32,
  creditAccountOf,
  deviceIdHash,
  epsilonMicroOf,
  proofHashOf,
} from "../protocol/provenance/round-leaves.js";
import { isChallengeSeed } from "../protocol/proving/challenge-seed.js";
import { verifyPoseidon } from "../protocol/proving/eddsa-poseidon.js";
import { decodeSrs, type KzgSrs } from "../protocol/proving/kzg.js";
import {
  decodeFieldElement,
  decodePublicKey,
  decodeSignature,
} from "../protocol/proving/proof-codec.js";
import { checkAggregateCommitments, type ExpectedNoise } from "./check-aggregate-commitments.js";
import {
  type BundleContribution,
  type BundleRound,
  bundleSrsBytes,
  bundleVerificationKeyHash,
  bytesOfBase64,
  type ProvenanceBundle,
} from "./provenance-bundle.js";

export type MismatchKind =
  | "model-not-anchored"
  | "ancestry"
  | "bundle-chain"
  | "bundle-job"
  | "verification-key"
  | "round-missing"
  | "round-model"
  | "contribution"
  | "contributions-root"
  | "credit"
  | "credits-root"
  | "epsilon"
  | "anchor-tx"
  | "proof-missing"
  | "proof-invalid"
  | "proof-binding"
  | "spec"
  | "clip-norm"
  | "samples"
  | "enrolment"
  | "aggregate-hash"
  | "dispute"
  | "verifier-code"
  | "aggregation";

export interface Mismatch {
  kind: MismatchKind;
  round?: number;
  deviceId?: string;
  /** For "proof-binding": which rule of check-contribution.ts the signals break. */
  check?: ContributionCheck;
  message: string;
}

export type ProofStatus = "verified" | "none" | "failed" | "unchecked";

/**
 * Whether the round's anchored model is its strategy's rule applied to the previous model and the
 * round's aggregate, and the aggregate the weighted sum of the round's committed contributions:
 * "verified" when both hold; "replayed (sums unchecked)" when only the rule was replayed (a job
 * without proofs has no commitments to add up); "verified up to noise" with central DP when the
 * aggregate is the contributions' sum plus committed noise of proven norm ≤ `noiseNorm`;
 * "replayed (noised aggregate)" with central DP when that could not be checked (a job without
 * proofs); "mismatch"; "not verifiable" for
 * robust strategies, which need the updates; "unchecked" when the replay had nothing to go on
 * (see `VerificationReport.notes`).
 */
export type AggregationStatus =
  | "verified"
  | "verified up to noise"
  | "replayed (sums unchecked)"
  | "replayed (noised aggregate)"
  | "mismatch"
  | "not verifiable"
  | "unchecked";

export interface RoundVerification {
  round: number;
  modelHash: Hex;
  parentHash: Hex;
  anchorTx: Hex;
  anchorBlock: number;
  /** As anchored. */
  contributors: number;
  totalCredits: string;
  epsilon: number;
  contributionsRoot: "match" | "mismatch" | "unchecked";
  creditsRoot: "match" | "mismatch" | "unchecked";
  proofs: { status: ProofStatus; checked: number; valid: number };
  /** The model rule replayed on the round's exact aggregate (see AggregationStatus). */
  aggregation: AggregationStatus;
  /**
   * Whether the aggregate is the weighted sum of the round's committed contributions
   * (check-aggregate-commitments.ts): Σᵢ wᵢ·Cᵢ = commitment of (S, R) on every chunk, every
   * opening verifying. "unchecked" without proofs, with central DP and for robust strategies.
   */
  aggregateCommitments: "match" | "mismatch" | "unchecked";
  /**
   * With "verified up to noise": X = scale·√c2, the proven bound on the norm of the DP noise the
   * coordinator added to the round's aggregate, in model units.
   */
  noiseNorm?: number;
  /**
   * Who vouches for each contribution's data, from its DataValidity proof's attesterRoot:
   * "attested by the job's set" (the root the spec, hence the chain, pins) or "self-attested".
   * Empty when the round's proofs could not be read against a spec.
   */
  contributions: { deviceId: string; data: DataAttestation }[];
  /** The anchored hash of the round's exact integer aggregate; zero when not linear. */
  aggregateHash: Hex;
  /** On-chain disputes of the round's contributions (ContributionDisputed events), oldest first. */
  disputes: RoundDispute[];
  ok: boolean;
}

export interface RoundDispute {
  /** The bundle's device id, or the anchored bytes32 device id when the bundle has no such device. */
  deviceId: string;
  proofIndex: number;
  /** The on-chain verifier's verdict: false means an anchored proof does not verify. */
  proofValid: boolean;
  disputer: Address;
  txHash: Hex;
}

export interface VerificationReport {
  /** True only when every check ran and matched. */
  ok: boolean;
  modelHash: Hex;
  registry: Address;
  chainId: number;
  job: {
    chainJobId: string;
    /** The coordinator's job id, as the bundle names it. */
    jobId: string;
    specHash: Hex;
    initialModelHash: Hex;
    vkeyHash: Hex;
    coordinator: Address;
    /**
     * What the job's ε is accounted against ("declared 1000 (q = 0.01)", "no amplification
     * (q = 1)"), from the bundle's spec; absent without central DP or without a spec.
     */
    population?: string;
    /** The attester set the spec (whose hash the chain registers) pins; absent without one. */
    attesters?: { root: string; depth: number; keys: number };
  } | null;
  /** Round 1 first; empty when the model is the job's initial model. */
  rounds: RoundVerification[];
  proofs: { status: ProofStatus; checked: number; valid: number };
  /** Information: what the checks rest on, what lies beyond this model; never a failure. */
  notes: string[];
  /**
   * What should have been checked but could not be, and why (a bundle without the spec, proofs
   * without keys, unknown payout addresses…). Any entry makes the report not ok: `fedproof
   * verify` exits 2, as on a mismatch.
   */
  unchecked: string[];
  mismatches: Mismatch[];
}

export interface VerifyModelParameters {
  modelBytes: Uint8Array;
  rpcUrl: string;
  registry: string;
  bundle: ProvenanceBundle;
  /** Asked from the endpoint when omitted. */
  chainId?: number;
  /**
   * "batch" (default): one multi-pairing per round and circuit, falling back to one check per
   * proof only to name the invalid ones. "snarkjs": `snarkjs.groth16.verify` on every proof.
   */
  proofCheck?: "batch" | "snarkjs";
  /**
   * The runtime bytecode of the snarkjs Solidity verifier of a verification key
   * (contracts/groth16-verifier.ts compiles it with solc; `fedproof verify` passes it). When
   * given, every verifier the job registered on chain is compared with the one its bundle key
   * gives: a coordinator that registered any other contract (one that always answers true) would
   * decide every dispute. Without it (the browser has no solc) the comparison is noted as not made.
   */
  verifierCode?: (verificationKey: Groth16VerificationKey) => Promise<Hex>;
}

export async function verifyModel(parameters: VerifyModelParameters): Promise<VerificationReport> {
  const { bundle } = parameters;
  const registry = getAddress(parameters.registry);
  const chainId = parameters.chainId ?? (await fetchChainId(parameters.rpcUrl));
  const modelHash = sha256(parameters.modelBytes);
  const mismatches: Mismatch[] = [];
  const notes: string[] = [];
  const unchecked: string[] = [];
  const report = (job: VerificationReport["job"], rounds: RoundVerification[]) =>
    finish({ modelHash, registry, chainId, job, rounds, notes, unchecked, mismatches });

  // Reads only, with no signer or send lock: the verifier runs in browsers too (web/src/verify).
  const { publicClient } = createChainClients({ rpcUrl: parameters.rpcUrl, chainId });
  const reads = createRegistryReads({ publicClient, registry });
  let ancestry: { job: RegistryJob; rounds: AncestryRound[] };
  try {
    ancestry = await walkAncestry(reads, registry, modelHash);
  } catch (error) {
    if (error instanceof ModelNotAnchoredError) {
      mismatches.push({
        kind: "model-not-anchored",
        message: `model hash ${modelHash} is not anchored in registry ${registry} (chain ${chainId})`,
      });
      return report(null, []);
    }
    if (error instanceof AncestryMismatchError) {
      mismatches.push({ kind: "ancestry", message: error.shortMessage });
      return report(null, []);
    }
    throw error;
  }
  const onChain = ancestry.job;
  const job = {
    chainJobId: onChain.jobId.toString(),
    jobId: bundle.jobId,
    specHash: onChain.specHash,
    initialModelHash: onChain.initialModelHash,
    vkeyHash: onChain.vkeyHash,
    coordinator: onChain.coordinator,
    ...(bundle.spec?.privacy?.noiseMultiplier && {
      population: samplingPopulation(bundle.spec).description,
    }),
    ...(bundle.spec?.attesters && {
      attesters: {
        root: bundle.spec.attesters.root,
        depth: bundle.spec.attesters.depth,
        keys: bundle.spec.attesters.keys?.length ?? 0,
      },
    }),
  };

  checkBundleJob(bundle, { registry, chainId, job: onChain }, mismatches);
  const pinnedKeys = checkVerificationKeys(bundle, onChain, mismatches);
  const context = jobContext({
    bundle,
    job: onChain,
    modelBytes: parameters.modelBytes,
    pinnedKeys,
    checkedRounds: ancestry.rounds.length,
    mismatches,
    notes,
    unchecked,
  });

  // The job's VerifierRegistered events, read once for the dispute note and the code check.
  const registeredVerifiers =
    onChain.vkeyHash === zeroHash
      ? []
      : await reads.getVerifierRegisteredEvents({
          jobId: onChain.jobId,
          fromBlock: onChain.registeredBlock,
        });
  const disputes = await readDisputes(reads, onChain, ancestry.rounds, registeredVerifiers, notes);
  if (pinnedKeys) {
    await checkRegisteredVerifiers({
      registered: registeredVerifiers,
      getCode: (address) => publicClient.getCode({ address }),
      job: onChain,
      bundle,
      verifierCode: parameters.verifierCode,
      mismatches,
      notes,
    });
  }
  const replay = startReplay({
    bundle,
    job: onChain,
    spec: context.spec,
    checkedRounds: ancestry.rounds.length,
    mismatches,
    notes,
  });
  // Decoded once (its points are checked on the curve); only an SRS the chain pins is used.
  const srs = pinnedKeys ? pinnedSrs(bundle, unchecked) : Promise.resolve(undefined);
  const rounds: RoundVerification[] = [];
  for (const anchored of [...ancestry.rounds].reverse()) {
    const bundled = bundle.rounds.find((round) => round.round === anchored.round);
    const before = mismatches.length;
    const verified = await verifyRound({
      anchored,
      bundled,
      bundle,
      pinnedKeys,
      jobPinsKey: onChain.vkeyHash !== zeroHash,
      proofCheck: parameters.proofCheck ?? "batch",
      context,
      mismatches,
      notes,
      unchecked,
    });
    const replayed = replayAggregation({
      replay,
      anchored,
      bundled,
      mismatches,
      notes,
      unchecked,
    });
    const commitments = await roundAggregateCommitments({
      round: anchored.round,
      parentHash: anchored.parentHash,
      jobId: bundle.jobId,
      bundled,
      replay,
      context,
      srs: await srs,
      mismatches,
      notes,
      unchecked,
    });
    verified.aggregateCommitments = commitments.status;
    if (commitments.noiseNorm !== undefined) verified.noiseNorm = commitments.noiseNorm;
    verified.aggregation = aggregationStatus(replayed, verified.aggregateCommitments);
    verified.ok = verified.ok && mismatches.length === before;
    rounds.push(verified);
  }
  if (
    replay.strategy &&
    isLinearStrategySpec(replay.strategy) &&
    rounds.length > 0 &&
    context.spec?.proofs === false
  ) {
    notes.push(
      "aggregate commitments not checked: the job runs without proofs, so its contributions carry no KZG commitments; each anchored model is checked to be the strategy's rule applied to the round's aggregate, not that the aggregate is the weighted sum of the round's contributions",
    );
  }
  if (rounds.some((round) => round.noiseNorm !== undefined)) {
    notes.push(
      `central DP: X bounds the norm of the noise the coordinator added to each round's sum of updates, in model units (the model's mean divides it by the fixed denominator ${context.spec?.clientsPerRound}); the proofs bound the noise, they do not show it was random`,
    );
  }
  checkDevicesAcrossRounds(context, mismatches);
  reportDisputes(rounds, bundle, disputes, mismatches, notes);
  const newest = ancestry.rounds[0]?.round ?? 0;
  const later = bundle.rounds.filter((round) => round.round > newest).map((round) => round.round);
  if (later.length > 0) {
    notes.push(
      `the bundle also describes round${later.length > 1 ? "s" : ""} ${later.join(", ")}, after this model; not checked`,
    );
  }
  return report(job, rounds);
}

function finish(partial: Omit<VerificationReport, "ok" | "proofs">): VerificationReport {
  partial.unchecked.splice(0, partial.unchecked.length, ...new Set(partial.unchecked));
  const checked = partial.rounds.reduce((sum, round) => sum + round.proofs.checked, 0);
  const valid = partial.rounds.reduce((sum, round) => sum + round.proofs.valid, 0);
  const statuses = new Set(partial.rounds.map((round) => round.proofs.status));
  const status: ProofStatus =
    partial.job === null
      ? "unchecked"
      : statuses.has("failed") || valid < checked
        ? "failed"
        : statuses.has("unchecked")
          ? "unchecked"
          : checked > 0
            ? "verified"
            : "none";
  if (status === "none" && partial.rounds.length > 0 && partial.job?.vkeyHash === zeroHash) {
    partial.notes.unshift(
      `no proofs: job ${partial.job.chainJobId} pins no verification key on chain and its contributions carry no zero-knowledge proofs, so their clipping and data validity are not proven`,
    );
  }
  if (status === "unchecked" && partial.job !== null && partial.rounds.length > 0) {
    partial.unchecked.push(
      "proofs: not checked against a pinned verification key (the bundle's keys are missing or not the ones the job pinned)",
    );
  }
  return {
    ...partial,
    ok: partial.mismatches.length === 0 && partial.unchecked.length === 0 && status !== "unchecked",
    proofs: { status, checked, valid },
  };
}

function checkBundleJob(
  bundle: ProvenanceBundle,
  chain: { registry: Address; chainId: number; job: RegistryJob },
  mismatches: Mismatch[],
): void {
  const push = (message: string) => mismatches.push({ kind: "bundle-chain", message });
  if (bundle.chain.registry.toLowerCase() !== chain.registry.toLowerCase()) {
    push(
      `the bundle describes registry ${bundle.chain.registry}, the model was checked on ${chain.registry}`,
    );
  }
  if (bundle.chain.chainId !== chain.chainId) {
    push(
      `the bundle describes chain ${bundle.chain.chainId}, the endpoint serves chain ${chain.chainId}`,
    );
  }
  const job = (message: string) => mismatches.push({ kind: "bundle-job", message });
  if (bundle.chain.chainJobId !== chain.job.jobId.toString()) {
    job(
      `the model belongs to job ${chain.job.jobId} on the registry, the bundle describes job ${bundle.chain.chainJobId}`,
    );
  }
  if (bundle.specHash.toLowerCase() !== chain.job.specHash) {
    job(
      `the bundle's spec hash ${bundle.specHash} differs from the spec hash ${chain.job.specHash} registered for job ${chain.job.jobId}`,
    );
  }
  if (bundle.spec !== undefined && `0x${specHash(bundle.spec)}` !== bundle.specHash.toLowerCase()) {
    job(`the job spec in the bundle does not hash to the bundle's spec hash ${bundle.specHash}`);
  }
  if (bundle.initialModelHash.toLowerCase() !== chain.job.initialModelHash) {
    job(
      `the bundle's initial model ${bundle.initialModelHash} differs from ${chain.job.initialModelHash}, registered for job ${chain.job.jobId}`,
    );
  }
}

/** True when the bundle's keys are exactly the ones the job pinned on chain. */
function checkVerificationKeys(
  bundle: ProvenanceBundle,
  job: RegistryJob,
  mismatches: Mismatch[],
): boolean {
  // The SRS hash of the bytes the bundle carries is pinned with the keys.
  const computed = bundleVerificationKeyHash(bundle);
  if (computed === job.vkeyHash) return true;
  mismatches.push({
    kind: "verification-key",
    message:
      job.vkeyHash === zeroHash
        ? `job ${job.jobId} pins no verification key on chain, yet the bundle carries keys (${computed})`
        : computed === zeroHash
          ? `job ${job.jobId} pins verification key ${job.vkeyHash}, but the bundle carries no keys to check proofs with`
          : `the verification keys in the bundle hash to ${computed}, job ${job.jobId} pins ${job.vkeyHash}`,
  });
  return false;
}

interface VerifyRoundParameters {
  anchored: AncestryRound;
  bundled: BundleRound | undefined;
  bundle: ProvenanceBundle;
  pinnedKeys: boolean;
  jobPinsKey: boolean;
  proofCheck: "batch" | "snarkjs";
  context: JobContext;
  mismatches: Mismatch[];
  notes: string[];
  unchecked: string[];
}

async function verifyRound(parameters: VerifyRoundParameters): Promise<RoundVerification> {
  const { anchored, bundled, mismatches } = parameters;
  const round = anchored.round;
  const before = mismatches.length;
  const push: Push = (kind, message, deviceId, check) =>
    mismatches.push({
      kind,
      round,
      ...(deviceId ? { deviceId } : {}),
      ...(check ? { check } : {}),
      message: `round ${round}: ${message}`,
    });
  const result: RoundVerification = {
    round,
    modelHash: anchored.modelHash,
    parentHash: anchored.parentHash,
    anchorTx: anchored.anchorTx,
    anchorBlock: Number(anchored.anchorBlock),
    contributors: anchored.contributors,
    totalCredits: anchored.totalCredits.toString(),
    epsilon: Number(anchored.epsilonMicro) / 1e6,
    contributionsRoot: "unchecked",
    creditsRoot: "unchecked",
    proofs: { status: "unchecked", checked: 0, valid: 0 },
    aggregation: "unchecked",
    aggregateCommitments: "unchecked",
    contributions: [],
    aggregateHash: anchored.aggregateHash,
    disputes: [],
    ok: false,
  };
  if (!bundled) {
    push("round-missing", "anchored on chain but missing from the bundle");
    return result;
  }
  if (bundled.modelHash.toLowerCase() !== anchored.modelHash) {
    push(
      "round-model",
      `the bundle names model ${bundled.modelHash}, the chain anchors ${anchored.modelHash}`,
    );
  }
  if (bundled.parentHash.toLowerCase() !== anchored.parentHash) {
    push(
      "round-model",
      `the bundle names parent ${bundled.parentHash}, the chain anchors ${anchored.parentHash}`,
    );
  }
  if (epsilonMicroOf(bundled.epsilon) !== anchored.epsilonMicro) {
    push("epsilon", `the bundle reports ε = ${bundled.epsilon}, the anchor ε = ${result.epsilon}`);
  }
  if (bundled.aggregateHash === undefined) {
    if (anchored.aggregateHash !== zeroHash) {
      parameters.unchecked.push(
        `round ${round}: the bundle does not give the round's aggregate hash, the chain anchors ${anchored.aggregateHash}`,
      );
    }
  } else if (bundled.aggregateHash.toLowerCase() !== anchored.aggregateHash) {
    push(
      "aggregate-hash",
      `the bundle names aggregate hash ${bundled.aggregateHash}, the chain anchors ${anchored.aggregateHash}`,
    );
  }
  if (
    bundled.anchorTx !== "" &&
    bundled.anchorTx.toLowerCase() !== anchored.anchorTx.toLowerCase()
  ) {
    push(
      "anchor-tx",
      `the bundle names anchor transaction ${bundled.anchorTx}, the round was anchored by ${anchored.anchorTx}`,
    );
  }

  // Leaves from the raw fields; a field that cannot even be encoded is that device's mismatch.
  const leaves: { contribution: BundleContribution; leaf: Contribution; account: Hex | null }[] =
    [];
  for (const contribution of bundled.contributions) {
    try {
      const device = deviceIdHash(contribution.deviceId, contribution.publicKey);
      const leaf: Contribution = {
        deviceId: device,
        commitment: commitmentBytes32(contribution.commitment, contribution.deviceId),
        proofHash: proofHashOf(
          contribution.proofs,
          contribution.kzgCommitments,
          contribution.deviceId,
        ),
        weight: BigInt(contribution.samples),
      };
      const account =
        contribution.payoutAddress === null
          ? null
          : creditAccountOf(device, contribution.payoutAddress);
      leaves.push({ contribution, leaf, account });
    } catch (error) {
      push(
        "contribution",
        `contribution of device ${contribution.deviceId} is malformed: ${(error as Error).message}`,
        contribution.deviceId,
      );
    }
  }

  result.contributionsRoot = checkContributions(anchored, leaves, bundled, push);
  result.creditsRoot = checkCredits(anchored, leaves, bundled, push, parameters.unchecked);
  checkRoundAgainstSpec(parameters, bundled, push);
  result.proofs = await checkProofs(
    parameters,
    leaves.map((entry) => entry.contribution),
    push,
  );
  result.contributions = dataAttestations(parameters.context, bundled.contributions);
  result.ok = mismatches.length === before && result.proofs.status !== "unchecked";
  return result;
}

/**
 * Every ContributionDisputed event of the job's checked rounds (one log query), by round; and a
 * note when the job registered no on-chain verifier, so its contributions cannot be disputed.
 */
async function readDisputes(
  reads: ReturnType<typeof createRegistryReads>,
  job: RegistryJob,
  rounds: readonly AncestryRound[],
  registeredVerifiers: readonly VerifierRegisteredEvent[],
  notes: string[],
): Promise<Map<number, ContributionDisputedEvent[]>> {
  const byRound = new Map<number, ContributionDisputedEvent[]>();
  if (rounds.length === 0) return byRound;
  const checked = new Set(rounds.map((round) => round.round));
  for (const event of await reads.getContributionDisputedEvents({
    jobId: job.jobId,
    fromBlock: job.registeredBlock,
  })) {
    if (!checked.has(event.round)) continue;
    byRound.set(event.round, [...(byRound.get(event.round) ?? []), event]);
  }
  if (job.vkeyHash !== zeroHash && registeredVerifiers.length === 0) {
    notes.push(
      `job ${job.jobId} registered no Groth16 verifier on chain: its contributions cannot be disputed there (the proofs are still checked here)`,
    );
  }
  return byRound;
}

/**
 * Compares the code of every verifier the job registered on chain with the snarkjs verifier of
 * the bundle's key for that circuit (the keys are pinned by the job's vkey hash): a mismatch names
 * the circuit and the address. A registered verifier for a circuit the bundle does not name, and
 * a bundle circuit with none registered, are notes: no anchored leaf can name the former, and the
 * latter's proofs cannot be disputed on chain.
 */
async function checkRegisteredVerifiers(parameters: {
  registered: readonly VerifierRegisteredEvent[];
  getCode: (address: Address) => Promise<Hex | undefined>;
  job: RegistryJob;
  bundle: ProvenanceBundle;
  verifierCode: VerifyModelParameters["verifierCode"];
  mismatches: Mismatch[];
  notes: string[];
}): Promise<void> {
  const { registered, job, bundle, mismatches, notes } = parameters;
  if (registered.length === 0) return;
  if (!parameters.verifierCode) {
    notes.push(
      `the code of the ${registered.length} verifier(s) the job registered on chain was not compared with the bundle's keys (that needs solc: run \`fedproof verify\`)`,
    );
    return;
  }
  const circuitOf = new Map(
    Object.keys(bundle.verificationKeys).map((id) => [circuitIdHash(id), id] as const),
  );
  const seen = new Set<string>();
  for (const event of registered) {
    const circuitId = circuitOf.get(event.circuitIdHash);
    if (circuitId === undefined) {
      notes.push(
        `job ${job.jobId} registered a verifier at ${event.verifier} for circuit id hash ${event.circuitIdHash}, which names no circuit of the bundle`,
      );
      continue;
    }
    seen.add(circuitId);
    const [expected, onChain] = await Promise.all([
      parameters.verifierCode(bundle.verificationKeys[circuitId]!),
      parameters.getCode(event.verifier),
    ]);
    if (onChain?.toLowerCase() !== expected.toLowerCase()) {
      mismatches.push({
        kind: "verifier-code",
        message: `the verifier registered for circuit ${circuitId} at ${event.verifier} (transaction ${event.txHash}) is not the snarkjs verifier of the job's pinned key: its code differs, so disputes about that circuit's proofs are not judged by the key`,
      });
    }
  }
  // The noise proofs belong to no contribution, so no dispute is about them.
  const noiseCircuits = new Set(bundle.rounds.map((round) => round.noise?.circuitId));
  for (const circuitId of circuitOf.values()) {
    if (!seen.has(circuitId) && !noiseCircuits.has(circuitId)) {
      notes.push(
        `job ${job.jobId} registered no verifier for circuit ${circuitId}: its proofs cannot be disputed on chain`,
      );
    }
  }
}

/**
 * Disputes in the report: a proof the chain's verifier rejected is a mismatch naming the round and
 * the device (the coordinator anchored a contribution whose proof does not verify); a proof it
 * accepted is a note.
 */
function reportDisputes(
  rounds: RoundVerification[],
  bundle: ProvenanceBundle,
  disputes: Map<number, ContributionDisputedEvent[]>,
  mismatches: Mismatch[],
  notes: string[],
): void {
  for (const result of rounds) {
    const events = disputes.get(result.round) ?? [];
    if (events.length === 0) continue;
    const names = new Map<string, string>();
    for (const contribution of bundle.rounds.find((r) => r.round === result.round)?.contributions ??
      []) {
      try {
        names.set(
          deviceIdHash(contribution.deviceId, contribution.publicKey),
          contribution.deviceId,
        );
      } catch {
        // Malformed, and reported as such by the round's own checks.
      }
    }
    for (const event of events) {
      const deviceId = names.get(event.deviceId) ?? event.deviceId;
      const dispute: RoundDispute = {
        deviceId,
        proofIndex: Number(event.proofIndex),
        proofValid: event.proofValid,
        disputer: event.disputer,
        txHash: event.txHash,
      };
      result.disputes.push(dispute);
      const what = `round ${result.round}: proof ${dispute.proofIndex} of device ${deviceId} was disputed on chain (transaction ${event.txHash}, by ${event.disputer})`;
      if (event.proofValid) {
        notes.push(`${what}: the registered verifier accepted it`);
      } else {
        mismatches.push({
          kind: "dispute",
          round: result.round,
          deviceId,
          message: `${what}: the registered verifier REJECTED it, so the round anchors a contribution whose proof does not verify`,
        });
        result.ok = false;
      }
    }
  }
}

type Push = (
  kind: MismatchKind,
  message: string,
  deviceId?: string,
  check?: ContributionCheck,
) => void;

function checkContributions(
  anchored: AncestryRound,
  leaves: { contribution: BundleContribution; leaf: Contribution }[],
  bundled: BundleRound,
  push: Push,
): "match" | "mismatch" {
  const hashes: Hex[] = [];
  const failing: string[] = [];
  for (const { contribution, leaf } of leaves) {
    const hash = contributionLeaf(leaf);
    hashes.push(hash);
    if (
      contribution.merkleProof &&
      !verifyMerkleProof({
        root: anchored.contributionsRoot,
        leaf: hash,
        proof: contribution.merkleProof,
      })
    ) {
      failing.push(contribution.deviceId);
    }
  }
  // When every proof fails, the proofs were made for another tree (a coordinator that served
  // other contributions): blaming each device would be wrong, the round as a whole differs.
  const named = failing.length > 0 && (failing.length < leaves.length || leaves.length === 1);
  if (named) {
    for (const deviceId of failing) {
      push(
        "contribution",
        `contribution of device ${deviceId} does not match the anchored root`,
        deviceId,
      );
    }
  } else if (failing.length > 0) {
    push(
      "contributions-root",
      `none of the ${leaves.length} contributions in the bundle match the anchored root`,
    );
    return "mismatch";
  }
  const malformed = leaves.length !== bundled.contributions.length;
  let root: Hex | undefined;
  try {
    root = buildMerkleTree(hashes).root;
  } catch (error) {
    push(
      "contributions-root",
      `the bundle's contributions do not form a tree: ${(error as Error).message}`,
    );
    return "mismatch";
  }
  if (!malformed && root === anchored.contributionsRoot) return "match";
  if (!named && !malformed) {
    push(
      "contributions-root",
      bundled.contributions.length !== anchored.contributors
        ? `the bundle lists ${bundled.contributions.length} contributions, the anchor counts ${anchored.contributors}`
        : bundled.contributions.some((c) => c.merkleProof)
          ? "the contributions in the bundle do not rebuild the anchored root, though each matches its proof"
          : "the contributions in the bundle do not match the anchored root (the bundle has no per-contribution proofs to tell which)",
    );
  } else if (named && bundled.contributions.length !== anchored.contributors) {
    push(
      "contributions-root",
      `the bundle lists ${bundled.contributions.length} contributions, the anchor counts ${anchored.contributors}`,
    );
  }
  return "mismatch";
}

function checkCredits(
  anchored: AncestryRound,
  leaves: { contribution: BundleContribution; leaf: Contribution; account: Hex | null }[],
  bundled: BundleRound,
  push: Push,
  unchecked: string[],
): "match" | "mismatch" | "unchecked" {
  if (leaves.some((entry) => entry.account === null)) {
    unchecked.push(
      `round ${anchored.round}: credits not checked, the bundle's source did not give payout addresses`,
    );
    return "unchecked";
  }
  const amounts = new Map<string, { account: Address; amount: bigint; devices: string[] }>();
  for (const { contribution, leaf, account } of leaves) {
    const key = (account as Address).toLowerCase();
    const entry = amounts.get(key) ?? {
      account: getAddress(account as Address),
      amount: 0n,
      devices: [],
    };
    entry.amount += leaf.weight;
    entry.devices.push(contribution.deviceId);
    amounts.set(key, entry);
  }
  const credits: Credit[] = [...amounts.values()].map(({ account, amount }) => ({
    account,
    amount,
  }));
  const total = credits.reduce((sum, credit) => sum + credit.amount, 0n);
  let named = false;
  const proofs = new Map(
    bundled.credits.map((credit) => [credit.account.toLowerCase(), credit.merkleProof]),
  );
  for (const entry of amounts.values()) {
    const proof = proofs.get(entry.account.toLowerCase());
    if (!proof) continue;
    const leaf = creditLeaf({ account: entry.account, amount: entry.amount });
    if (!verifyMerkleProof({ root: anchored.creditsRoot, leaf, proof })) {
      const devices = entry.devices.join(", ");
      push(
        "credit",
        `credits of ${entry.account} (device${entry.devices.length > 1 ? "s" : ""} ${devices}) do not match the anchored credits root`,
        entry.devices.length === 1 ? entry.devices[0] : undefined,
      );
      named = true;
    }
  }
  let root: Hex;
  try {
    root = buildMerkleTree(credits.map(creditLeaf)).root;
  } catch (error) {
    push("credits-root", `the bundle's credits do not form a tree: ${(error as Error).message}`);
    return "mismatch";
  }
  if (total !== anchored.totalCredits) {
    push(
      "credits-root",
      `the bundle's contributions earn ${total} credits, the anchor totals ${anchored.totalCredits}`,
    );
    return "mismatch";
  }
  if (root === anchored.creditsRoot) return "match";
  if (!named)
    push(
      "credits-root",
      "the credits derived from the bundle do not match the anchored credits root",
    );
  return "mismatch";
}

async function checkProofs(
  parameters: VerifyRoundParameters,
  contributions: readonly BundleContribution[],
  push: Push,
): Promise<RoundVerification["proofs"]> {
  const { bundle, pinnedKeys, jobPinsKey } = parameters;
  const withProofs = contributions.filter((c) => c.proofs.length > 0);
  for (const contribution of contributions) {
    if (contribution.proofs.length === 0 && jobPinsKey) {
      push(
        "proof-missing",
        `contribution of device ${contribution.deviceId} carries no proof, though the job pins a verification key`,
        contribution.deviceId,
      );
    }
  }
  if (withProofs.length === 0) {
    return { status: jobPinsKey ? "failed" : "none", checked: 0, valid: 0 };
  }
  // The signals must be the job's, whatever the key says about the pairing.
  let unbound = false;
  for (const contribution of withProofs) {
    for (const problem of contributionProblems(parameters, contribution)) {
      push(
        "proof-binding",
        `proofs of device ${contribution.deviceId}: ${problem.message}`,
        contribution.deviceId,
        problem.check,
      );
      unbound = true;
    }
  }
  if (!pinnedKeys) return { status: "unchecked", checked: 0, valid: 0 };

  // Group by circuit: one verification key per group.
  const groups = new Map<
    string,
    { deviceId: string; index: number; proof: BundleContribution["proofs"][number] }[]
  >();
  for (const contribution of withProofs) {
    contribution.proofs.forEach((proof, index) => {
      const group = groups.get(proof.circuitId) ?? [];
      group.push({ deviceId: contribution.deviceId, index, proof });
      groups.set(proof.circuitId, group);
    });
  }
  let checked = 0;
  let valid = 0;
  for (const [circuitId, group] of groups) {
    const key = bundle.verificationKeys[circuitId];
    if (!key) {
      for (const item of group) {
        push(
          "proof-invalid",
          `proof ${item.index} of device ${item.deviceId} is for circuit ${circuitId}, which has no pinned verification key`,
          item.deviceId,
        );
      }
      checked += group.length;
      continue;
    }
    const items = group.map((item) => ({
      proof: item.proof.proof as snarkjs.Groth16Proof,
      publicSignals: item.proof.publicSignals,
    }));
    let invalid: number[];
    if (parameters.proofCheck === "snarkjs") {
      invalid = [];
      for (const [index, item] of items.entries()) {
        const ok = await snarkjs.groth16
          .verify(key, [...item.publicSignals], item.proof)
          .catch(() => false);
        if (!ok) invalid.push(index);
      }
    } else {
      invalid = (await batchVerifyGroth16(key, items)).invalid;
    }
    checked += items.length;
    valid += items.length - invalid.length;
    for (const index of invalid) {
      const item = group[index]!;
      push(
        "proof-invalid",
        `proof ${item.index} (circuit ${circuitId}) of device ${item.deviceId} does not verify against the pinned verification key`,
        item.deviceId,
      );
    }
  }
  const failed =
    unbound || valid < checked || (jobPinsKey && withProofs.length < contributions.length);
  return { status: failed ? "failed" : "verified", checked, valid };
}

/** What the whole job's checks rest on: the spec, the model's size, the job's circuits. */
interface JobContext {
  /** The bundle's spec, when it hashes to the registered spec hash and parses. */
  spec: JobSpec | undefined;
  /** Values in the model file (float32), hence in every update. */
  paramCount: number | undefined;
  circuits: CheckContributionParameters["circuits"] | undefined;
  /**
   * With central DP: the spec's noise bound (noise-bound.ts) and the noise chunk circuit among
   * the job's keys (the update-norm circuit of the devices' n and the noise bits the bound
   * needs) with its key when the chain pins the bundle's keys.
   */
  noise: Pick<ExpectedNoise, "circuit" | "verificationKey" | "bound"> | undefined;
  /** Per device: the enrolment and nullifier it showed first, to compare later rounds with. */
  devices: Map<string, { round: number; datasetCommitment?: string; nullifier?: bigint }>;
}

interface JobContextParameters {
  bundle: ProvenanceBundle;
  job: RegistryJob;
  modelBytes: Uint8Array;
  pinnedKeys: boolean;
  checkedRounds: number;
  mismatches: Mismatch[];
  notes: string[];
  unchecked: string[];
}

function jobContext(parameters: JobContextParameters): JobContext {
  const { bundle, job, mismatches, unchecked } = parameters;
  const context: JobContext = {
    spec: undefined,
    paramCount: undefined,
    circuits: undefined,
    noise: undefined,
    devices: new Map(),
  };
  if (parameters.checkedRounds === 0) return context;
  const proofsPinned = job.vkeyHash !== zeroHash;

  if (bundle.spec === undefined) {
    unchecked.push(
      "the bundle carries no job spec: the proofs' clip bound, data schema and whether the job requires proofs are not checked",
    );
  } else if (`0x${specHash(bundle.spec)}` === bundle.specHash.toLowerCase()) {
    const parsed = jobSpecSchema.safeParse(bundle.spec);
    if (parsed.success) context.spec = parsed.data;
    else unchecked.push(`the bundle's job spec does not parse: ${parsed.error.issues[0]?.message}`);
  }
  const spec = context.spec;
  if (spec && spec.proofs !== proofsPinned) {
    mismatches.push({
      kind: "spec",
      message: spec.proofs
        ? `the job spec requires proofs, but job ${job.jobId} pins no verification key on chain`
        : `the job spec runs without proofs, but job ${job.jobId} pins verification key ${job.vkeyHash}`,
    });
  }

  if (parameters.modelBytes.byteLength % 4 === 0) {
    context.paramCount = parameters.modelBytes.byteLength / 4;
  } else if (proofsPinned) {
    unchecked.push(
      `the model file (${parameters.modelBytes.byteLength} bytes) is not float32 weights: how many parameters the update proofs must cover is not known`,
    );
  }

  // The circuits are the pinned keys' (their ids name their parameters); a bundle without keys
  // still has its signals checked against the circuits its proofs name.
  const ids = new Set(Object.keys(bundle.verificationKeys));
  if (ids.size === 0) {
    for (const round of bundle.rounds)
      for (const c of round.contributions) for (const p of c.proofs) ids.add(p.circuitId);
  }
  let updateNorm: { id: string; parameters: { n: number; bits: number } } | undefined;
  let dataValidity: { id: string; parameters: { featureBits: number } } | undefined;
  const norms: { id: string; parameters: { n: number; bits: number } }[] = [];
  for (const id of ids) {
    const circuit = circuitOfId(id);
    if (circuit?.kind === "update-norm") norms.push({ id, parameters: circuit.parameters });
    if (circuit?.kind === "data-validity") dataValidity ??= { id, parameters: circuit.parameters };
  }
  // A job with central DP pins a second chunk circuit, for its noise: the devices' is the one of
  // the spec's bits.
  updateNorm =
    norms.find((circuit) => circuit.parameters.bits === spec?.quantization.bits) ?? norms[0];
  if (updateNorm && spec && spec.privacy.noiseMultiplier > 0 && context.paramCount) {
    const bound = noiseBoundOf(spec, context.paramCount);
    const n = updateNorm.parameters.n;
    const circuit =
      "error" in bound
        ? undefined
        : norms.find((c) => c.parameters.n === n && c.parameters.bits === bound.bits);
    context.noise = {
      circuit,
      verificationKey:
        circuit && parameters.pinnedKeys ? bundle.verificationKeys[circuit.id] : undefined,
      bound,
    };
  }
  if (proofsPinned && (spec?.proofs ?? true)) {
    if (!updateNorm || !dataValidity) {
      mismatches.push({
        kind: "verification-key",
        message: `job ${job.jobId} requires proofs, but its circuits name no ${updateNorm ? "data-validity" : "UpdateNorm"} circuit${parameters.pinnedKeys ? "" : " (the bundle carries no keys for them)"}`,
      });
    } else {
      context.circuits = { updateNorm, dataValidity };
    }
    if (spec?.privacy.adaptiveClipQuantile) {
      parameters.notes.push(
        "adaptive clipping: each round's clip norm C comes from the bundle (the chain does not anchor it); the proofs are checked against it",
      );
    }
  }
  return context;
}

/** The round's C, and the claimed sample counts, as the spec allows them. */
function checkRoundAgainstSpec(
  parameters: VerifyRoundParameters,
  bundled: BundleRound,
  push: Push,
): void {
  const { spec } = parameters.context;
  if (!spec) return;
  if (
    !spec.privacy.adaptiveClipQuantile &&
    bundled.clipNorm !== undefined &&
    bundled.clipNorm !== spec.clipNorm
  ) {
    push(
      "clip-norm",
      `the bundle says the round clipped at C = ${bundled.clipNorm}, the job spec fixes C = ${spec.clipNorm}`,
    );
  }
  if (spec.privacy.adaptiveClipQuantile && bundled.clipNorm === undefined && spec.proofs) {
    parameters.unchecked.push(
      `round ${bundled.round}: the bundle does not say the round's clip norm (the job clips adaptively), so the proofs' clip bound is not checked`,
    );
  }
  if (spec.proofs && !spec.challengeCommitment) {
    push(
      "spec",
      "the job spec commits to no challenge-seed chain: its data challenges were predictable before the round's tasks, or chosen after enrolment",
    );
  }
  // Every round's seed is fixed by the commitment the spec hash anchors: a coordinator cannot
  // pick, after a device enrolled, the seed whose challenge opens its few good records.
  if (
    bundled.challengeSeed !== undefined &&
    spec.challengeCommitment &&
    !isChallengeSeed(spec.challengeCommitment, bundled.round, bundled.challengeSeed)
  ) {
    push(
      "spec",
      `the round's challenge seed ${bundled.challengeSeed} is not round ${bundled.round}'s seed of the chain the spec commits to (${spec.challengeCommitment})`,
    );
  }
  const least = Math.max(1, spec.minSamples);
  for (const contribution of bundled.contributions) {
    if (contribution.samples < least) {
      push(
        "samples",
        `device ${contribution.deviceId} is weighted by ${contribution.samples} samples, the job requires at least ${least}`,
        contribution.deviceId,
      );
    }
  }
}

/**
 * The shared signal check (check-contribution.ts) on one contribution, with what the bundle
 * says about the round and the device; also the enrolment's own signature.
 */
function contributionProblems(
  parameters: VerifyRoundParameters,
  contribution: BundleContribution,
): { check?: ContributionCheck; message: string }[] {
  const { context, anchored, bundled, unchecked } = parameters;
  const { spec, paramCount, circuits } = context;
  if (!spec || paramCount === undefined || !circuits || !bundled) return [];
  const round = anchored.round;
  const problems: { check?: ContributionCheck; message: string }[] = [];
  const dataProof = contribution.proofs.find((p) => p.circuitId === circuits.dataValidity.id);
  let datasetCommitment = contribution.datasetCommitment;
  if (datasetCommitment === undefined) {
    unchecked.push(
      `round ${round}: the bundle does not give device ${contribution.deviceId}'s enrolment, so its data proof's dataset commitment is not checked`,
    );
    // Compared with itself: every other signal is still checked.
    datasetCommitment = signalHex(dataProof?.publicSignals[1]);
  } else {
    const signature = enrolmentSignatureProblem(contribution);
    if (signature) problems.push({ check: "unregistered-key", message: signature });
  }
  const roundClipNorm = spec.privacy.adaptiveClipQuantile ? bundled.clipNorm : spec.clipNorm;
  const roundSeed = bundled.challengeSeed;
  if (roundSeed === undefined) {
    unchecked.push(
      `round ${round}: the bundle does not give the round's challenge seed, which every proof context mixes in: its proofs' signals are not checked`,
    );
    return problems;
  }
  const result = checkContribution({
    spec,
    roundClipNorm,
    paramCount,
    circuits,
    enrolment: { publicKey: contribution.publicKey, datasetCommitment },
    context: {
      jobId: parameters.bundle.jobId,
      round,
      globalModelHash: anchored.parentHash.replace(/^0x/, ""),
      deviceId: contribution.deviceId,
      roundSeed,
    },
    samples: contribution.samples,
    commitment: contribution.commitment,
    proofs: contribution.proofs,
    // Each chunk proof's kzgChallenge must be the x its KZG commitment gives; a bundle that
    // pins an SRS must carry the commitments (checking the openings is a pairing, not here).
    ...(contribution.kzgCommitments || parameters.bundle.kzgSrs
      ? { kzgCommitments: contribution.kzgCommitments ?? [] }
      : {}),
    // The spec's root, and the spec is the one whose hash the chain registered: a proof
    // against any other attester tree, or a self-attested one in a job with attesters, fails.
    attesterRoot: jobAttesterRoot(spec),
  });
  problems.push(...result.problems);

  // One enrolment per device and job: the same dataset (and nullifier) in every round.
  let nullifier: bigint | undefined;
  try {
    nullifier = dataProof ? parseDataValiditySignals(dataProof.publicSignals).nullifier : undefined;
  } catch {
    nullifier = undefined;
  }
  const seen = context.devices.get(contribution.deviceId);
  if (!seen) {
    context.devices.set(contribution.deviceId, {
      round,
      ...(contribution.datasetCommitment === undefined
        ? {}
        : { datasetCommitment: contribution.datasetCommitment }),
      ...(nullifier === undefined ? {} : { nullifier }),
    });
  } else {
    if (
      seen.datasetCommitment !== undefined &&
      contribution.datasetCommitment !== undefined &&
      seen.datasetCommitment.replace(/^0x/, "").toLowerCase() !==
        contribution.datasetCommitment.replace(/^0x/, "").toLowerCase()
    ) {
      problems.push({
        check: "dataset",
        message: `the device's enrolment names another dataset commitment than in round ${seen.round}`,
      });
    }
    if (seen.nullifier !== undefined && nullifier !== undefined && seen.nullifier !== nullifier) {
      problems.push({
        check: "dataset",
        message: `the data-validity proof shows another nullifier than in round ${seen.round}`,
      });
    }
  }
  return problems;
}

/**
 * Who vouches for each contribution's data. Only contributions whose data proof carries the
 * spec's root or 0 get a label; any other root is a binding mismatch reported above.
 */
function dataAttestations(
  context: JobContext,
  contributions: readonly BundleContribution[],
): RoundVerification["contributions"] {
  const { spec, circuits } = context;
  if (!spec || !circuits) return [];
  const labelled: RoundVerification["contributions"] = [];
  for (const contribution of contributions) {
    const proof = contribution.proofs.find((p) => p.circuitId === circuits.dataValidity.id);
    if (!proof) continue;
    let data: DataAttestation | undefined;
    try {
      data = dataAttestationOf(spec, parseDataValiditySignals(proof.publicSignals).attesterRoot);
    } catch {
      data = undefined;
    }
    if (data) labelled.push({ deviceId: contribution.deviceId, data });
  }
  return labelled;
}

/** No two devices of a job may show one dataset nullifier: one enrolment per dataset. */
function checkDevicesAcrossRounds(context: JobContext, mismatches: Mismatch[]): void {
  const byNullifier = new Map<bigint, string[]>();
  for (const [deviceId, seen] of context.devices) {
    if (seen.nullifier === undefined) continue;
    byNullifier.set(seen.nullifier, [...(byNullifier.get(seen.nullifier) ?? []), deviceId]);
  }
  for (const devices of byNullifier.values()) {
    if (devices.length < 2) continue;
    mismatches.push({
      kind: "enrolment",
      message: `devices ${devices.join(", ")} prove the same dataset (one nullifier): one dataset may enrol one device per job`,
    });
  }
}

function enrolmentSignatureProblem(contribution: BundleContribution): string | undefined {
  const signature = contribution.datasetSignature?.replace(/^0x/, "") ?? "";
  if (signature === "") return undefined;
  try {
    const key = decodePublicKey(bytesOfHex(contribution.publicKey));
    const commitment = decodeFieldElement(
      bytesOfHex(contribution.datasetCommitment ?? ""),
      "dataset commitment",
    );
    if (verifyPoseidon(key, commitment, decodeSignature(bytesOfHex(signature)))) {
      return undefined;
    }
  } catch {
    // Undecodable: reported as not verifying.
  }
  return "the enrolment's dataset signature does not verify under the device's public key";
}

function signalHex(signal: string | undefined): string {
  try {
    return BigInt(signal ?? "x")
      .toString(16)
      .padStart(64, "0");
  } catch {
    return "";
  }
}

/** Hex with or without 0x (throws on anything else); not Buffer, which browsers lack. */
function bytesOfHex(hex: string): Uint8Array {
  return hexToBytes(`0x${hex.replace(/^0x/, "")}`);
}

/** The aggregation replay's progress through the rounds, round 1 first. */
interface AggregationReplay {
  /** The job's strategy, when the bundle's spec gives it. */
  strategy: StrategySpec | undefined;
  spec: JobSpec | undefined;
  /** The model the next round starts from, as replayed; undefined once the replay stopped. */
  model: Float32Array | undefined;
  state: RuleState | undefined;
  /** Why the replay cannot go on, when `model` is undefined. */
  stopped: string;
}

interface StartReplayParameters {
  bundle: ProvenanceBundle;
  job: RegistryJob;
  spec: JobSpec | undefined;
  checkedRounds: number;
  mismatches: Mismatch[];
  notes: string[];
}

/** The replay's start: the job's strategy and its initial model, checked against the chain. */
function startReplay(parameters: StartReplayParameters): AggregationReplay {
  const { bundle, job, spec, mismatches, notes } = parameters;
  const replay: AggregationReplay = {
    strategy: undefined,
    spec,
    model: undefined,
    state: undefined,
    stopped: "",
  };
  if (parameters.checkedRounds === 0) return replay;
  if (!spec) {
    replay.stopped =
      "the bundle carries no job spec that hashes to the registered one (strategy, quantisation)";
    return replay;
  }
  const strategy = strategySpecSchema.safeParse(strategySpecOf(spec));
  if (!strategy.success) {
    replay.stopped = "the job spec's strategy does not parse";
    return replay;
  }
  replay.strategy = strategy.data;
  if (!isLinearStrategySpec(strategy.data)) {
    notes.push(
      `aggregation not verifiable without the updates: strategy ${strategy.data.name} looks at every update, not only at their sum, and the bundle holds no update`,
    );
    return replay;
  }
  if (bundle.initialModel === undefined) {
    replay.stopped = "the bundle carries no initial model to replay from";
    return replay;
  }
  let bytes: Uint8Array;
  try {
    bytes = bytesOfBase64(bundle.initialModel, "the bundle's initial model");
  } catch (error) {
    replay.stopped = (error as Error).message;
    return replay;
  }
  if (sha256(bytes) !== job.initialModelHash) {
    mismatches.push({
      kind: "aggregation",
      message: `the bundle's initial model hashes to ${sha256(bytes)}, job ${job.jobId} registered initial model ${job.initialModelHash}`,
    });
    replay.stopped = "the bundle's initial model is not the registered one";
    return replay;
  }
  try {
    replay.model = decodeModel(bytes);
  } catch (error) {
    replay.stopped = `the initial model is not float32 weights: ${(error as Error).message}`;
  }
  return replay;
}

/** What the replay alone established: the rule gave the anchored model ("noised": with DP noise). */
type ReplayStatus = "replayed" | "noised" | "mismatch" | "not verifiable" | "unchecked";

interface ReplayAggregationParameters {
  replay: AggregationReplay;
  anchored: AncestryRound;
  bundled: BundleRound | undefined;
  mismatches: Mismatch[];
  notes: string[];
  unchecked: string[];
}

/**
 * One round of the replay: the round's aggregate (checked against its hash and the round's
 * weights) through the strategy's binary32 rule from the previous model must give the anchored
 * model hash. Advances the replay on success; stops it otherwise, as the next round's parent
 * bytes are then unknown.
 */
function replayAggregation(parameters: ReplayAggregationParameters): ReplayStatus {
  const { replay, anchored, bundled, notes } = parameters;
  const round = anchored.round;
  const { strategy, spec } = replay;
  if (strategy && !isLinearStrategySpec(strategy)) return "not verifiable";
  const previous = replay.model;
  const stop = (reason: string): void => {
    replay.model = undefined;
    replay.state = undefined;
    replay.stopped = reason;
  };
  const anchoredHash = anchoredAggregateHash(anchored);
  if (previous === undefined || !strategy || !spec) {
    notes.push(`round ${round}: aggregation not checked: ${replay.stopped}`);
    return "unchecked";
  }
  if (!bundled?.aggregate) {
    const missing = `round ${round}: aggregation not checked: the bundle carries no aggregate for the round`;
    // Once the anchor commits to an aggregate, leaving it out of the bundle hides a checkable round.
    if (anchoredHash) parameters.unchecked.push(missing);
    else notes.push(missing);
    stop(`round ${round}'s aggregate is not in the bundle`);
    return "unchecked";
  }
  const push = (message: string): void => {
    parameters.mismatches.push({
      kind: "aggregation",
      round,
      message: `round ${round}: ${message}`,
    });
  };
  let artifact: Uint8Array;
  let aggregate: ReturnType<typeof decodeAggregate>;
  try {
    artifact = bytesOfBase64(bundled.aggregate, `round ${round}'s aggregate`);
    aggregate = decodeAggregate(artifact, previous.length);
  } catch (error) {
    push(`the bundle's aggregate is malformed: ${(error as Error).message}`);
    stop(`round ${round}'s aggregate is malformed`);
    return "mismatch";
  }
  const hash = sha256(artifact);
  const named = bundled.aggregateHash?.toLowerCase();
  let status: ReplayStatus = "replayed";
  if (named !== undefined && hash !== named) {
    push(`the bundle's aggregate hashes to ${hash}, the round names aggregate ${named}`);
    status = "mismatch";
  }
  if (anchoredHash !== undefined && hash !== anchoredHash) {
    push(`the bundle's aggregate hashes to ${hash}, the chain anchors aggregate ${anchoredHash}`);
    status = "mismatch";
  }
  const dp = spec.privacy.noiseMultiplier > 0;
  if (aggregate.noised !== dp) {
    push(
      dp
        ? "the job asks for central DP, but the round's aggregate carries no noise"
        : "the round's aggregate says it carries DP noise, but the job asks for none",
    );
    status = "mismatch";
  }
  // W is public: the fixed denominator with DP, otherwise the sum of the anchored weights.
  const weight = dp
    ? spec.clientsPerRound
    : bundled.contributions.reduce((sum, c) => sum + aggregationWeight(c.samples, spec), 0);
  if (aggregate.weight !== weight) {
    push(
      dp
        ? `the aggregate is divided by W = ${aggregate.weight}, the job's fixed DP denominator is ${weight}`
        : `the aggregate is divided by W = ${aggregate.weight}, the round's contributions weigh ${weight} in all`,
    );
    status = "mismatch";
  }
  let next: ReturnType<typeof nextModel>;
  try {
    next = nextModel({
      strategy,
      global: previous,
      aggregate,
      scale: spec.quantization.scale,
      state: replay.state,
    });
  } catch (error) {
    push(
      `the strategy's rule cannot be applied to the round's aggregate: ${(error as Error).message}`,
    );
    stop(`round ${round} could not be replayed`);
    return "mismatch";
  }
  const modelHash = sha256(encodeModel(next.model));
  if (modelHash !== anchored.modelHash) {
    push(
      `the model anchored is not the strategy's rule applied to ${round === 1 ? "the initial model" : `round ${round - 1}'s model`} and the round's aggregate (the rule gives ${modelHash}, the chain anchors ${anchored.modelHash})`,
    );
    stop(`round ${round}'s anchored model is not the replayed one, so its bytes are unknown`);
    return "mismatch";
  }
  replay.model = next.model;
  replay.state = next.state;
  if (status !== "replayed") return status;
  return aggregate.noised ? "noised" : "replayed";
}

/**
 * The aggregate hash the anchor commits to, once the registry anchors one (a bytes32 field
 * `aggregateHash` on the round; zero = none). Read structurally so that this check tightens by
 * itself when the anchor gains the field.
 */
function anchoredAggregateHash(anchored: AncestryRound): Hex | undefined {
  const value = (anchored as { aggregateHash?: Hex }).aggregateHash;
  return value && value !== zeroHash ? (value.toLowerCase() as Hex) : undefined;
}

/** The bundle's SRS, decoded; undefined (with an unchecked entry) when it does not decode. */
async function pinnedSrs(
  bundle: ProvenanceBundle,
  unchecked: string[],
): Promise<KzgSrs | undefined> {
  const bytes = bundleSrsBytes(bundle);
  if (!bytes) return undefined;
  try {
    return decodeSrs(bytes);
  } catch (error) {
    unchecked.push(`the bundle's KZG SRS does not decode: ${(error as Error).message}`);
    return undefined;
  }
}

interface RoundAggregateCommitmentsParameters {
  round: number;
  /** The round's anchored parent model hash, and the job's id: the noise proofs' context. */
  parentHash: Hex;
  jobId: string;
  bundled: BundleRound | undefined;
  replay: AggregationReplay;
  context: JobContext;
  srs: KzgSrs | undefined;
  mismatches: Mismatch[];
  notes: string[];
  unchecked: string[];
}

/**
 * Σᵢ wᵢ·Cᵢ over the round's contribution commitments must equal the commitment of the aggregate
 * S and its blinding R (check-aggregate-commitments.ts), so that S is the weighted sum of exactly
 * the round's proven updates. Only linear rounds of jobs with proofs have something to add up.
 */
async function roundAggregateCommitments(
  parameters: RoundAggregateCommitmentsParameters,
): Promise<{ status: RoundVerification["aggregateCommitments"]; noiseNorm?: number }> {
  const { round, replay, context, bundled } = parameters;
  const { spec, circuits } = context;
  if (!replay.strategy || !isLinearStrategySpec(replay.strategy)) return { status: "unchecked" };
  if (!spec?.proofs || !circuits) return { status: "unchecked" };
  const result = await checkAggregateCommitments({
    round,
    bundled,
    spec,
    srs: parameters.srs,
    updateNorm: circuits.updateNorm,
    ...(context.noise && context.paramCount !== undefined
      ? {
          noise: {
            ...context.noise,
            context: bundled?.challengeSeed
              ? {
                  jobId: parameters.jobId,
                  round,
                  globalModelHash: parameters.parentHash.replace(/^0x/, ""),
                  roundSeed: bundled.challengeSeed,
                }
              : undefined,
            paramCount: context.paramCount,
          },
        }
      : {}),
  });
  for (const mismatch of result.mismatches) {
    parameters.mismatches.push({ kind: "aggregation", round, ...mismatch });
  }
  if (result.unchecked) {
    (result.unchecked.blocking ? parameters.unchecked : parameters.notes).push(
      result.unchecked.reason,
    );
  }
  return {
    status: result.status,
    ...(result.noiseNorm === undefined ? {} : { noiseNorm: result.noiseNorm }),
  };
}

/** The spec's noise bound, or why it has none (a noise too wide for the 32-bit noise circuit). */
function noiseBoundOf(spec: JobSpec, paramCount: number): ExpectedNoise["bound"] {
  try {
    return noiseProofParameters(spec, paramCount);
  } catch (error) {
    return { error: (error as Error).message };
  }
}

/**
 * The aggregation column: "verified" only when the replay and the commitment check both hold;
 * "replayed (sums unchecked)" when only the replay ran (no proofs, or no commitments to add up);
 * with central DP "verified up to noise" when both hold, the sum check covering the committed
 * noise; "replayed (noised aggregate)" when only the replay ran.
 */
function aggregationStatus(
  replayed: ReplayStatus,
  commitments: RoundVerification["aggregateCommitments"],
): AggregationStatus {
  if (replayed === "mismatch" || commitments === "mismatch") return "mismatch";
  if (replayed === "noised") {
    return commitments === "match" ? "verified up to noise" : "replayed (noised aggregate)";
  }
  if (replayed === "replayed") {
    return commitments === "match" ? "verified" : "replayed (sums unchecked)";
  }
  return replayed;
}
