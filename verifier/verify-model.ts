/**
 * `fedproof verify`: what a verifier holding a model file, a chain endpoint and a provenance
 * bundle can establish about where the model came from.
 *
 * 1. The file's sha256 must be anchored on the registry; its ancestry is walked on chain back to
 *    the job's initial model (registry-client.ts `walkAncestry`, which also checks that each
 *    round's event roots hash to the stored round root).
 * 2. The bundle must describe that job: registry, chain, job id, spec hash, initial model and the
 *    verification keys the job pinned.
 * 3. For every round of the ancestry, the anchored leaves are recomputed from the bundle's raw
 *    fields (round-leaves.ts): each contribution is checked against the anchored contributions
 *    root with its own Merkle proof (which names the device that does not match), then the whole
 *    set is rebuilt into the root (which catches contributions left out or added), and the
 *    credits likewise.
 * 4. Every Groth16 proof is checked against the job's pinned verification key, and its public
 *    signals against the contribution (proof-binding.ts: job, round, parent model, device, the
 *    anchored commitment, the sample count). A job that pins no key and carries no proofs is
 *    reported as "no proofs", never as verified.
 *
 * Mismatches are collected, not thrown: the report names every one. Only a chain that cannot be
 * reached is an error (nothing was verified).
 */
import * as snarkjs from "snarkjs";
import { type Address, getAddress, type Hex, sha256, zeroHash } from "viem";
import { fetchChainId } from "../coordinator/chain/chain-config.js";
import {
  type AncestryRound,
  createRegistryClient,
  type RegistryJob,
} from "../coordinator/chain/registry-client.js";
import {
  AncestryMismatchError,
  ModelNotAnchoredError,
} from "../coordinator/chain/registry-errors.js";
import { specHash } from "../protocol/job/job-spec.js";
import { batchVerifyGroth16 } from "../protocol/proofs/batch-verify-groth16.js";
import { jobVerificationKeyHash } from "../protocol/provenance/job-vkey-hash.js";
import {
  buildMerkleTree,
  type Contribution,
  type Credit,
  contributionLeaf,
  creditLeaf,
  verifyMerkleProof,
} from "../protocol/provenance/merkle.js";
import {
  commitmentBytes32,
  creditAccountOf,
  deviceIdHash,
  epsilonMicroOf,
  proofHashOf,
} from "../protocol/provenance/round-leaves.js";
import { proofBindingProblems } from "./proof-binding.js";
import type { BundleContribution, BundleRound, ProvenanceBundle } from "./provenance-bundle.js";

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
  | "proof-binding";

export interface Mismatch {
  kind: MismatchKind;
  round?: number;
  deviceId?: string;
  message: string;
}

export type ProofStatus = "verified" | "none" | "failed" | "unchecked";

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
  ok: boolean;
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
  } | null;
  /** Round 1 first; empty when the model is the job's initial model. */
  rounds: RoundVerification[];
  proofs: { status: ProofStatus; checked: number; valid: number };
  /** What was not checked, and why; never a failure by itself. */
  notes: string[];
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
}

export async function verifyModel(parameters: VerifyModelParameters): Promise<VerificationReport> {
  const { bundle } = parameters;
  const registry = getAddress(parameters.registry);
  const chainId = parameters.chainId ?? (await fetchChainId(parameters.rpcUrl));
  const modelHash = sha256(parameters.modelBytes);
  const mismatches: Mismatch[] = [];
  const notes: string[] = [];
  const report = (job: VerificationReport["job"], rounds: RoundVerification[]) =>
    finish({ modelHash, registry, chainId, job, rounds, notes, mismatches });

  const client = createRegistryClient({ rpcUrl: parameters.rpcUrl, chainId, registry });
  let ancestry: { job: RegistryJob; rounds: AncestryRound[] };
  try {
    ancestry = await client.walkAncestry(modelHash);
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
  };

  checkBundleJob(bundle, { registry, chainId, job: onChain }, mismatches);
  const pinnedKeys = checkVerificationKeys(bundle, onChain, mismatches);

  const rounds: RoundVerification[] = [];
  for (const anchored of [...ancestry.rounds].reverse()) {
    const bundled = bundle.rounds.find((round) => round.round === anchored.round);
    rounds.push(
      await verifyRound({
        anchored,
        bundled,
        bundle,
        pinnedKeys,
        jobPinsKey: onChain.vkeyHash !== zeroHash,
        proofCheck: parameters.proofCheck ?? "batch",
        mismatches,
        notes,
      }),
    );
  }
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
  return {
    ...partial,
    ok: partial.mismatches.length === 0 && status !== "unchecked",
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
  const computed = jobVerificationKeyHash(bundle.verificationKeys);
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
  mismatches: Mismatch[];
  notes: string[];
}

async function verifyRound(parameters: VerifyRoundParameters): Promise<RoundVerification> {
  const { anchored, bundled, mismatches } = parameters;
  const round = anchored.round;
  const before = mismatches.length;
  const push = (kind: MismatchKind, message: string, deviceId?: string) =>
    mismatches.push({
      kind,
      round,
      ...(deviceId ? { deviceId } : {}),
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
        proofHash: proofHashOf(contribution.proofs),
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
  result.creditsRoot = checkCredits(anchored, leaves, bundled, push, parameters.notes);
  result.proofs = await checkProofs(
    parameters,
    leaves.map((entry) => entry.contribution),
    push,
  );
  result.ok = mismatches.length === before && result.proofs.status !== "unchecked";
  return result;
}

type Push = (kind: MismatchKind, message: string, deviceId?: string) => void;

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
  notes: string[],
): "match" | "mismatch" | "unchecked" {
  if (leaves.some((entry) => entry.account === null)) {
    notes.push(
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
  // The signals must describe this contribution, whatever the key says about the pairing.
  let unbound = false;
  for (const contribution of withProofs) {
    const problems = proofBindingProblems({
      jobId: bundle.jobId,
      round: parameters.anchored.round,
      parentHash: parameters.anchored.parentHash,
      deviceId: contribution.deviceId,
      commitment: contribution.commitment,
      samples: contribution.samples,
      proofs: contribution.proofs,
    });
    for (const problem of problems) {
      push(
        "proof-binding",
        `proofs of device ${contribution.deviceId}: ${problem}`,
        contribution.deviceId,
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
