/**
 * Gas of an on-chain dispute (FedproofRegistry.dispute), measured from receipts on a local Anvil:
 * one anchored contribution with real Groth16 proofs of the small test circuits (an UpdateNorm
 * chunk with 5 public signals, a DataValidity proof with 12), each disputed once.
 *
 *   npx tsx benchmarks/dispute-gas.ts
 *
 * Read-modify-writes benchmarks/results/aggregation.json: only `summary.disputeGas` (and the
 * `disputeGas` run record) are replaced; other benchmarks write the file's other keys. The
 * figure is the whole transaction's gasUsed: 21k intrinsic, calldata, the Merkle and chunk
 * checks, and the verifier call (whose fixed stipend, FedproofRegistry.verifierGas, is an upper
 * bound on what the verifier may spend, not what it spends).
 */
import { createHash } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { releaseSnarkjsThreads } from "../client/core/proving/release-snarkjs.js";
import { buildContracts } from "../contracts/build.js";
import { parseJobSpec } from "../protocol/job/job-spec.js";
import { quantizedNormBound } from "../protocol/update/quantize.js";
import { anchorOfBundleRound } from "../test/harness/anchor-bundle-round.js";
import { startAnvil } from "../test/harness/anvil.js";
import { fixtureChallengeChain } from "../test/harness/chain-fixture.js";
import { deployTestRegistry } from "../test/harness/deploy-test-registry.js";
import { PROVEN_SCHEMA, provingFixture } from "../test/harness/proven-contribution.js";
import type { ProvenanceBundle } from "../verifier/provenance-bundle.js";
import { currentCommand, machineInfo, RESULTS_DIRECTORY } from "./harness.js";

await buildContracts();
const { createRegistryClient } = await import("../coordinator/chain/registry-client.js");
const { registerJobOnChain } = await import("../coordinator/chain/register-job.js");
const { disputeContribution } = await import("../coordinator/chain/dispute-contribution.js");
const { BUNDLE_FORMAT, buildBundleRound } = await import("../verifier/provenance-bundle.js");
const { jobVerificationKeyHash } = await import("../protocol/provenance/job-vkey-hash.js");
const { fedproofRegistryAbi } = await import("../contracts/generated/fedproof-registry.js");

const sha = (text: string) => createHash("sha256").update(text).digest("hex");

const anvil = await startAnvil();
try {
  const { chain } = await deployTestRegistry(anvil);
  const proving = await provingFixture();
  const jobId = "dispute-gas";
  const spec = parseJobSpec({ schema: PROVEN_SCHEMA, proofs: true, rounds: 1 });
  const initialModelHash = sha("dispute-gas initial");
  const registered = await registerJobOnChain({
    chain,
    job: { jobId, specHash: sha("dispute-gas spec"), initialModelHash },
    vkeyHash: jobVerificationKeyHash(proving.verificationKeys),
    circuits: [proving.updateNorm, proving.dataValidity],
    pollingIntervalMs: 50,
  });
  const { dataset, enrolment } = proving.enrol(7);
  const proven = await proving.prove({
    spec,
    jobId,
    round: 1,
    parentHash: initialModelHash,
    roundSeed: fixtureChallengeChain(jobId, 1).seeds[1]!,
    deviceId: "device-0",
    q: new Int32Array(64).map((_, i) => (i % 7) - 3),
    c2: quantizedNormBound(spec.clipNorm, spec.quantization.scale),
    dataset,
  });
  const round = buildBundleRound({
    round: 1,
    modelHash: sha("dispute-gas model 1"),
    parentHash: initialModelHash,
    epsilon: 0,
    anchorTx: "",
    contributions: [
      {
        deviceId: "device-0",
        publicKey: enrolment.publicKey,
        payoutAddress: "",
        commitment: proven.commitment,
        samples: enrolment.samples,
        updateHash: sha("device-0 update"),
        proofs: proven.proofs.map((record) => ({
          circuitId: record.circuitId,
          proof: JSON.parse(record.proofJson) as unknown,
          publicSignals: record.publicSignals,
        })),
      },
    ],
  });
  const registry = createRegistryClient({
    rpcUrl: anvil.rpcUrl,
    chainId: anvil.chainId,
    registry: chain.registry,
    account: chain.privateKey,
    pollingIntervalMs: 50,
  });
  await registry.anchorRound(anchorOfBundleRound(BigInt(registered.chainJobId), round));
  const bundle: ProvenanceBundle = {
    format: BUNDLE_FORMAT,
    jobId,
    chain: { chainId: anvil.chainId, registry: chain.registry, chainJobId: registered.chainJobId },
    specHash: `0x${sha("dispute-gas spec")}` as const,
    initialModelHash: `0x${initialModelHash}` as const,
    vkeyHash: jobVerificationKeyHash(proving.verificationKeys),
    verificationKeys: { ...proving.verificationKeys },
    rounds: [round],
  };

  const { publicClient } = await import("../coordinator/chain/chain-clients.js").then((module) =>
    module.createChainClients({ rpcUrl: anvil.rpcUrl, chainId: anvil.chainId }),
  );
  const measured: Record<string, unknown> = {};
  for (const [index, proof] of proven.proofs.entries()) {
    const result = await disputeContribution({
      bundle,
      round: 1,
      deviceId: "device-0",
      proofIndex: index,
      rpcUrl: anvil.rpcUrl,
      chainId: anvil.chainId,
      registry: chain.registry,
      account: anvil.accounts[3]!.privateKey,
      pollingIntervalMs: 50,
    });
    if (!result.proofValid) throw new Error(`proof ${index} was not upheld: benchmark is broken`);
    const stipend = await publicClient.readContract({
      address: chain.registry,
      abi: fedproofRegistryAbi,
      functionName: "verifierGas",
      args: [BigInt(proof.publicSignals.length)],
    });
    const kind = proof.circuitId.startsWith("update-norm") ? "updateNormChunk" : "dataValidity";
    measured[kind] = {
      circuitId: proof.circuitId,
      publicSignals: proof.publicSignals.length,
      gasUsed: Number(result.gasUsed),
      verifierGasStipend: Number(stipend),
    };
  }
  const verifierDeployGas = Object.fromEntries(
    registered.verifiers.map((item) => [item.circuitId, Number(item.gasUsed)]),
  );

  const file = path.join(RESULTS_DIRECTORY, "aggregation.json");
  let results: {
    summary?: Record<string, unknown>;
    runs?: Record<string, unknown>;
    [key: string]: unknown;
  } = {};
  try {
    results = JSON.parse(await readFile(file, "utf8"));
  } catch {
    results = {};
  }
  results.summary = {
    ...(results.summary ?? {}),
    disputeGas: { ...measured, verifierDeployGas },
  };
  results.runs = {
    ...(results.runs ?? {}),
    disputeGas: {
      command: currentCommand(),
      measuredAt: new Date().toISOString(),
      machine: machineInfo(),
      chain: "local Anvil (@foundry-rs/anvil), solc and optimizer as contracts/build.ts",
    },
  };
  await mkdir(RESULTS_DIRECTORY, { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(results, null, 2)}\n`);
  await rename(temporary, file);
  process.stdout.write(`${JSON.stringify(results.summary.disputeGas, null, 2)}\nwrote ${file}\n`);
} finally {
  await anvil.stop();
  await releaseSnarkjsThreads();
}
