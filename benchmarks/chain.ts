/**
 * On-chain provenance costs on a local Anvil: gas per `anchorRound` for 1, 10 and 100
 * contributors (target ≤ 120k, flat in the number of contributors), the cost of registering a
 * job, and the wall-clock time of `verifyModel` over a 10-round ancestry with bundle checks.
 *
 *   npx tsx benchmarks/chain.ts            # 3 jobs per size; verify with 10 and 100 contributors
 *   npx tsx benchmarks/chain.ts --quick    # 1 job per size; verify with 10 contributors only
 *
 * Writes benchmarks/results/chain.json and chain.md. The verify time covers hashing the model,
 * walking the ancestry over JSON-RPC and recomputing every leaf, Merkle proof and root; the
 * bundles carry no Groth16 proofs (their cost per proof is in proofs.json).
 */
import { createHash } from "node:crypto";
import { type Hex, zeroHash } from "viem";
import { startAnvil } from "../cli/demo/anvil.js";
import { buildContracts } from "../contracts/build.js";
import {
  BUNDLE_FORMAT,
  type BundleRound,
  buildBundleRound,
  type ProvenanceBundle,
} from "../verifier/provenance-bundle.js";
import {
  type FigureValue,
  isQuick,
  median,
  resultsName,
  round,
  secondsSince,
  writeResults,
} from "./harness.js";

await buildContracts();
const { createRegistryClient, deployRegistry } = await import(
  "../coordinator/chain/registry-client.js"
);
const { verifyModel } = await import("../verifier/verify-model.js");

const quick = isQuick();
const anchorSizes = [1, 10, 100];
const jobsPerSize = quick ? 1 : 3;
const verifyRounds = 10;
const verifyContributorCounts = quick ? [10] : [10, 100];
const verifyRepeats = quick ? 2 : 5;

const sha256 = (text: string | Uint8Array) => createHash("sha256").update(text).digest("hex");
const bytesOf = (label: string) => new Uint8Array(createHash("sha256").update(label).digest());

/** A round's contributions as a coordinator would hold them: distinct devices, keys, payouts. */
function contributionsOf(label: string, count: number) {
  return Array.from({ length: count }, (_, index) => ({
    deviceId: `device-${String(index).padStart(4, "0")}`,
    publicKey: sha256(`${label} key ${index}`).repeat(2),
    // Every third device has no payout address and gets a derived account.
    payoutAddress: index % 3 === 0 ? "" : `0x${sha256(`${label} payout ${index}`).slice(0, 40)}`,
    commitment: sha256(`${label} commitment ${index}`).slice(0, 62),
    samples: 100 + index,
    proofs: [],
    updateHash: sha256(`${label} update ${index}`),
  }));
}

const anvil = await startAnvil({ accounts: 1 });
try {
  const key = anvil.accounts[0]!.privateKey;
  const deployed = await deployRegistry({
    rpcUrl: anvil.rpcUrl,
    chainId: anvil.chainId,
    account: key,
    pollingIntervalMs: 20,
  });
  const registry = createRegistryClient({
    rpcUrl: anvil.rpcUrl,
    chainId: anvil.chainId,
    registry: deployed.registry,
    account: key,
    pollingIntervalMs: 20,
  });

  let jobCounter = 0;
  const registerGas: number[] = [];
  /** Registers a job whose rounds are `models[1..]`, built on `models[0]`. */
  async function newJob(label: string) {
    jobCounter += 1;
    const result = await registry.registerJob({
      specHash: `0x${sha256(`${label} spec ${jobCounter}`)}`,
      initialModelHash: `0x${sha256(bytesOf(`${label} model 0`))}`,
      vkeyHash: zeroHash,
    });
    registerGas.push(Number(result.gasUsed));
    return result.jobId;
  }

  async function anchor(jobId: bigint, bundleRound: BundleRound) {
    const started = performance.now();
    const outcome = await registry.anchorRound({
      jobId,
      round: bundleRound.round,
      modelHash: bundleRound.modelHash,
      parentHash: bundleRound.parentHash,
      contributionsRoot: bundleRound.contributionsRoot,
      creditsRoot: bundleRound.creditsRoot ?? zeroHash,
      contributors: bundleRound.contributors,
      totalCredits: BigInt(bundleRound.totalCredits ?? "0"),
    });
    return {
      gas: Number(outcome.gasUsed),
      ms: performance.now() - started,
      txHash: outcome.txHash,
    };
  }

  // 1. Gas per anchor by number of contributors: round 1 of a fresh job each time.
  const anchors: { contributors: number; gas: number[]; latencyMs: number[] }[] = [];
  for (const size of anchorSizes) {
    const gas: number[] = [];
    const latencyMs: number[] = [];
    for (let repeat = 0; repeat < jobsPerSize; repeat++) {
      const label = `anchor ${size} ${repeat}`;
      const jobId = await newJob(label);
      const bundleRound = buildBundleRound({
        round: 1,
        modelHash: sha256(bytesOf(`${label} model 1`)),
        parentHash: sha256(bytesOf(`${label} model 0`)),
        epsilon: 0,
        anchorTx: "",
        contributions: contributionsOf(label, size),
      });
      const result = await anchor(jobId, bundleRound);
      gas.push(result.gas);
      latencyMs.push(result.ms);
    }
    anchors.push({ contributors: size, gas, latencyMs });
  }

  // 2. verifyModel over a 10-round ancestry, with the bundle's leaves, proofs and roots checked.
  const verifications: {
    rounds: number;
    contributorsPerRound: number;
    seconds: number[];
    bundleBytes: number;
  }[] = [];
  for (const contributors of verifyContributorCounts) {
    const label = `verify ${contributors}`;
    const jobId = await newJob(label);
    const rounds: BundleRound[] = [];
    let anchorTx: Hex = zeroHash;
    for (let r = 1; r <= verifyRounds; r++) {
      const bundleRound = buildBundleRound({
        round: r,
        modelHash: sha256(bytesOf(`${label} model ${r}`)),
        parentHash: sha256(bytesOf(`${label} model ${r - 1}`)),
        epsilon: 0,
        anchorTx: "",
        contributions: contributionsOf(`${label} round ${r}`, contributors),
      });
      anchorTx = (await anchor(jobId, bundleRound)).txHash;
      rounds.push({ ...bundleRound, anchorTx });
    }
    const onChain = await registry.getJob(jobId);
    const bundle: ProvenanceBundle = {
      format: BUNDLE_FORMAT,
      jobId: label,
      chain: { chainId: anvil.chainId, registry: deployed.registry, chainJobId: jobId.toString() },
      specHash: onChain!.specHash,
      initialModelHash: onChain!.initialModelHash,
      vkeyHash: zeroHash,
      verificationKeys: {},
      rounds,
    };
    const modelBytes = bytesOf(`${label} model ${verifyRounds}`);
    const seconds: number[] = [];
    for (let repeat = 0; repeat < verifyRepeats; repeat++) {
      const started = performance.now();
      const report = await verifyModel({
        modelBytes,
        rpcUrl: anvil.rpcUrl,
        registry: deployed.registry,
        bundle,
      });
      seconds.push(secondsSince(started));
      // The synthetic bundles carry no spec, no proofs and no aggregates, so the report lists
      // those checks as unchecked (not ok); what is timed is the chain and bundle part, which
      // must match in every round.
      if (report.mismatches.length > 0 || report.rounds.length !== verifyRounds) {
        throw new Error(
          `verification failed: ${report.mismatches.map((m) => m.message).join("; ")}`,
        );
      }
    }
    verifications.push({
      rounds: verifyRounds,
      contributorsPerRound: contributors,
      seconds,
      bundleBytes: JSON.stringify(bundle).length,
    });
  }

  const gasOf = (size: number) => median(anchors.find((a) => a.contributors === size)!.gas);
  const allAnchorGas = anchors.flatMap((a) => a.gas);
  const verifySecondsOf = (contributors: number) => {
    const found = verifications.find((v) => v.contributorsPerRound === contributors);
    return found ? round(median(found.seconds), 3) : null;
  };
  const summary: Record<string, FigureValue> = {
    anchorGas1: gasOf(1),
    anchorGas10: gasOf(10),
    anchorGas100: gasOf(100),
    anchorGasSpread: Math.max(...allAnchorGas) - Math.min(...allAnchorGas),
    anchorGasTargetMet: Math.max(...allAnchorGas) <= 120_000,
    anchorLatencyMs: round(median(anchors.flatMap((a) => a.latencyMs)), 1),
    verify10RoundsSeconds: verifySecondsOf(10),
    verify10Rounds100ContributorsSeconds: verifySecondsOf(100),
    registerJobGas: median(registerGas.slice(1)),
    deployGas: Number(deployed.gasUsed),
  };

  writeResults(
    resultsName("chain"),
    {
      summary,
      anvil: { chainId: anvil.chainId, blockPerTransaction: true },
      anchors,
      verifications,
      registerJobGas: registerGas,
    },
    [
      {
        title: "Gas per anchorRound (one transaction per round)",
        columns: ["contributors", "jobs", "gas (median)", "gas min", "gas max", "send→receipt ms"],
        rows: anchors.map((a) => [
          a.contributors,
          a.gas.length,
          median(a.gas),
          Math.min(...a.gas),
          Math.max(...a.gas),
          round(median(a.latencyMs), 1),
        ]),
        note: "Target ≤ 120 000 gas, flat in the number of contributors: a round anchors two Merkle roots, not its leaves.",
      },
      {
        title:
          "verifyModel over a 10-round ancestry (bundle leaves, Merkle proofs and roots checked)",
        columns: ["rounds", "contributors / round", "median s", "min s", "max s", "bundle KB"],
        rows: verifications.map((v) => [
          v.rounds,
          v.contributorsPerRound,
          round(median(v.seconds), 3),
          round(Math.min(...v.seconds), 3),
          round(Math.max(...v.seconds), 3),
          round(v.bundleBytes / 1024, 1),
        ]),
        note: "Local Anvil over HTTP; a remote endpoint adds its round-trip time per RPC call (one per round, plus four). No Groth16 proofs in these bundles.",
      },
    ],
  );
} finally {
  await anvil.stop();
}
