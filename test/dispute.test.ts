/**
 * Disputes on a real Anvil with the real snarkjs Groth16 verifiers of the small test circuits:
 * registering a job with its circuits deploys and registers their verifiers; an anchored
 * contribution's real proofs re-verify on chain (proofValid true); a bundle tampered in a public
 * signal or a leaf field is refused with ContributionNotAnchored and changes nothing; a genuinely
 * invalid proof that the coordinator anchored gives proofValid false, and `fedproof verify` then
 * fails naming the round and the device.
 */
import { createHash } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type Address,
  createPublicClient,
  encodeFunctionData,
  type Hex,
  http,
  keccak256,
  toBytes,
} from "viem";
import { foundry } from "viem/chains";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { releaseSnarkjsThreads } from "../client/core/proving/release-snarkjs.js";
import { buildContracts } from "../contracts/build.js";
import type { ChainConfig } from "../coordinator/chain/chain-config.js";
import { parseJobSpec } from "../protocol/job/job-spec.js";
import type { ProofRecord } from "../protocol/provenance/round-leaves.js";
import { quantizedNormBound } from "../protocol/update/quantize.js";
import { anchorOfBundleRound } from "./harness/anchor-bundle-round.js";
import { type StartAnvilReturnType, startAnvil } from "./harness/anvil.js";
import { fixtureChallengeChain } from "./harness/chain-fixture.js";
import { runCli } from "./harness/cli-process.js";
import { deployTestRegistry } from "./harness/deploy-test-registry.js";
import { PROVEN_SCHEMA, provingFixture } from "./harness/proven-contribution.js";

await buildContracts();
const { createRegistryClient } = await import("../coordinator/chain/registry-client.js");
const { registerJobOnChain } = await import("../coordinator/chain/register-job.js");
const { buildDispute, disputeContribution } = await import(
  "../coordinator/chain/dispute-contribution.js"
);
const { fedproofRegistryAbi } = await import("../contracts/generated/fedproof-registry.js");
const { createChainClients } = await import("../coordinator/chain/chain-clients.js");
const { ContributionNotAnchoredError, RegistryPermissionError } = await import(
  "../coordinator/chain/registry-errors.js"
);
const { BUNDLE_FORMAT, buildBundleRound, parseProvenanceBundle } = await import(
  "../verifier/provenance-bundle.js"
);
const { verifyModel } = await import("../verifier/verify-model.js");
const { jobVerificationKeyHash } = await import("../protocol/provenance/job-vkey-hash.js");
const { groth16Verifier } = await import("../contracts/groth16-verifier.js");

type ProvenanceBundle = ReturnType<typeof parseProvenanceBundle>;
type RegistryClient = ReturnType<typeof createRegistryClient>;

let anvil: StartAnvilReturnType;
let chain: ChainConfig;
let coordinator: RegistryClient;
let disputer: RegistryClient;
let reader: ReturnType<typeof createPublicClient>;
let bundle: ProvenanceBundle;
let modelBytes: Uint8Array;
let verifiers: Awaited<ReturnType<typeof registerJobOnChain>>["verifiers"];

const sha = (bytes: Uint8Array | string) => createHash("sha256").update(bytes).digest("hex");

/** A deep copy, as a verifier reads a bundle from a file. */
const copy = (value: ProvenanceBundle): ProvenanceBundle =>
  parseProvenanceBundle(JSON.parse(JSON.stringify(value)));

function dispute(
  target: ProvenanceBundle,
  deviceId: string,
  proofIndex: number,
  client: RegistryClient = disputer,
) {
  return disputeContribution({
    bundle: target,
    round: 1,
    deviceId,
    proofIndex,
    rpcUrl: anvil.rpcUrl,
    chainId: anvil.chainId,
    registry: chain.registry,
    account: anvil.accounts[7]!.privateKey,
    client,
  });
}

beforeAll(async () => {
  anvil = await startAnvil();
  ({ chain } = await deployTestRegistry(anvil));
  reader = createPublicClient({ chain: foundry, transport: http(anvil.rpcUrl) });
  const clientFor = (index: number) =>
    createRegistryClient({
      rpcUrl: anvil.rpcUrl,
      chainId: anvil.chainId,
      registry: chain.registry,
      account: anvil.accounts[index]!.privateKey,
      pollingIntervalMs: 50,
    });
  coordinator = clientFor(0);
  disputer = clientFor(7);

  const proving = await provingFixture();
  const jobId = "dispute-job";
  const spec = parseJobSpec({ schema: PROVEN_SCHEMA, proofs: true, rounds: 1 });
  const initialModel = new TextEncoder().encode("dispute initial model");
  modelBytes = new TextEncoder().encode("dispute round 1 model");
  const initialModelHash = sha(initialModel);
  const registered = await registerJobOnChain({
    chain,
    job: { jobId, specHash: sha("dispute spec"), initialModelHash },
    vkeyHash: jobVerificationKeyHash(proving.verificationKeys),
    circuits: [proving.updateNorm, proving.dataValidity],
    pollingIntervalMs: 50,
  });
  verifiers = registered.verifiers;

  const c2 = quantizedNormBound(spec.clipNorm, spec.quantization.scale);
  const roundSeed = fixtureChallengeChain("dispute", 1).seeds[1]!;
  const contributions = [];
  for (const [index, deviceId] of ["honest-a", "honest-b", "bad"].entries()) {
    const { dataset, enrolment } = proving.enrol(300 + index);
    const proven = await proving.prove({
      spec,
      jobId,
      round: 1,
      parentHash: initialModelHash,
      roundSeed,
      deviceId,
      q: new Int32Array(64).map((_, i) => ((i + index) % 7) - 3),
      c2,
      dataset,
    });
    let proofs: ProofRecord[] = proven.proofs;
    if (deviceId === "bad") {
      // The coordinator anchors a chunk proof whose partial-sum signal was altered: the leaf is
      // genuinely in the root, the proof genuinely fails its pairing.
      const signals = [...proofs[0]!.publicSignals];
      signals[1] = String(BigInt(signals[1]!) + 1n);
      proofs = [{ ...proofs[0]!, publicSignals: signals }, ...proofs.slice(1)];
    }
    contributions.push({
      deviceId,
      publicKey: enrolment.publicKey,
      payoutAddress: "",
      commitment: proven.commitment,
      samples: enrolment.samples,
      updateHash: sha(`${deviceId} update`),
      proofs: proofs.map((record) => ({
        circuitId: record.circuitId,
        proof: JSON.parse(record.proofJson) as unknown,
        publicSignals: record.publicSignals,
      })),
      kzgCommitments: [`0x${"0a".repeat(32)}${"0b".repeat(32)}`],
    });
  }
  const round = buildBundleRound({
    round: 1,
    modelHash: sha(modelBytes),
    parentHash: initialModelHash,
    epsilon: 0,
    anchorTx: "",
    aggregateHash: sha("dispute aggregate"),
    contributions,
  });
  const anchored = await coordinator.anchorRound(
    anchorOfBundleRound(BigInt(registered.chainJobId), round),
  );
  bundle = copy({
    format: BUNDLE_FORMAT,
    jobId,
    chain: {
      chainId: anvil.chainId,
      registry: chain.registry,
      chainJobId: registered.chainJobId,
    },
    specHash: `0x${sha("dispute spec")}`,
    initialModelHash: `0x${initialModelHash}`,
    vkeyHash: jobVerificationKeyHash(proving.verificationKeys),
    verificationKeys: proving.verificationKeys,
    rounds: [{ ...round, anchorTx: anchored.txHash }],
  });
}, 600_000);

afterAll(async () => {
  await anvil?.stop();
  await releaseSnarkjsThreads();
});

describe("verifiers registered with the job", () => {
  it("deploys the snarkjs verifier of each circuit and files it under keccak256(circuit id)", async () => {
    const proving = await provingFixture();
    expect(verifiers.map((item) => item.circuitId)).toEqual([
      proving.updateNorm.id,
      proving.dataValidity.id,
    ]);
    const jobId = BigInt(bundle.chain.chainJobId);
    for (const [index, circuit] of [proving.updateNorm, proving.dataValidity].entries()) {
      const registered = await coordinator.verifierOf(jobId, keccak256(toBytes(circuit.id)));
      expect(registered).toBe(verifiers[index]!.verifier);
      // The code on chain is exactly the verifier exported from the circuit's zkey.
      const { deployedBytecode } = await groth16Verifier({ zkey: circuit.zkeyPath });
      expect(await reader.getCode({ address: registered as Address })).toBe(deployedBytecode);
      // And the verifier a reader renders from the bundle's key alone is the same contract.
      const fromKey = await groth16Verifier({
        verificationKey: bundle.verificationKeys[circuit.id]!,
      });
      expect(fromKey.deployedBytecode).toBe(deployedBytecode);
    }
  });

  it("fails verify naming the circuit when the coordinator registered another contract as its verifier", async () => {
    const proving = await provingFixture();
    const jobName = "swapped-verifier-job";
    const initialModelHash = sha("swapped initial model");
    const swapped = await registerJobOnChain({
      chain,
      job: { jobId: jobName, specHash: sha("dispute spec"), initialModelHash },
      vkeyHash: jobVerificationKeyHash(proving.verificationKeys),
      pollingIntervalMs: 50,
    });
    const jobId = BigInt(swapped.chainJobId);
    // A real verifier, of the other circuit: it would judge every chunk-proof dispute by the
    // wrong key.
    const wrong = verifiers[1]!.verifier;
    await coordinator.registerVerifiers({
      jobId,
      verifiers: [
        { circuitIdHash: keccak256(toBytes(proving.updateNorm.id)), verifier: wrong },
        { circuitIdHash: keccak256(toBytes(proving.dataValidity.id)), verifier: wrong },
      ],
    });
    const model = new TextEncoder().encode("swapped round 1 model");
    const honest = bundle.rounds[0]!;
    const round = {
      ...honest,
      modelHash: `0x${sha(model)}` as Hex,
      parentHash: `0x${initialModelHash}` as Hex,
    };
    const anchored = await coordinator.anchorRound(anchorOfBundleRound(jobId, round));
    const swappedBundle = copy({
      ...bundle,
      jobId: jobName,
      chain: { ...bundle.chain, chainJobId: swapped.chainJobId },
      initialModelHash: `0x${initialModelHash}`,
      rounds: [{ ...round, anchorTx: anchored.txHash }],
    });
    const verifierCode = async (verificationKey: object) =>
      (await groth16Verifier({ verificationKey })).deployedBytecode;
    const report = await verifyModel({
      modelBytes: model,
      rpcUrl: anvil.rpcUrl,
      registry: chain.registry,
      bundle: swappedBundle,
      verifierCode,
    });
    expect(report.ok).toBe(false);
    expect(report.mismatches.filter((mismatch) => mismatch.kind === "verifier-code")).toEqual([
      {
        kind: "verifier-code",
        message: expect.stringContaining(
          `the verifier registered for circuit ${proving.updateNorm.id} at ${wrong} (transaction 0x`,
        ),
      },
    ]);

    // The honest job's verifiers are the ones its keys give.
    const honestReport = await verifyModel({
      modelBytes,
      rpcUrl: anvil.rpcUrl,
      registry: chain.registry,
      bundle: copy(bundle),
      verifierCode,
    });
    expect(honestReport.mismatches.filter((m) => m.kind === "verifier-code")).toEqual([]);
    expect(honestReport.notes.join("\n")).not.toMatch(/registered no verifier for circuit/);
    // Without the compiler (the browser) the comparison is a note, never a silent pass.
    const withoutSolc = await verifyModel({
      modelBytes: model,
      rpcUrl: anvil.rpcUrl,
      registry: chain.registry,
      bundle: swappedBundle,
    });
    expect(withoutSolc.mismatches.filter((m) => m.kind === "verifier-code")).toEqual([]);
    expect(withoutSolc.notes.join("\n")).toMatch(
      /the code of the 2 verifier\(s\) the job registered on chain was not compared/,
    );
  });

  it("refuses verifiers after the first anchor, and from anyone but the job's coordinator", async () => {
    const jobId = BigInt(bundle.chain.chainJobId);
    const circuitIdHash = keccak256(toBytes("another circuit"));
    const verifier = verifiers[0]!.verifier;
    await expect(
      coordinator.registerVerifiers({ jobId, verifiers: [{ circuitIdHash, verifier }] }),
    ).rejects.toMatchObject({ errorName: "VerifiersLocked", args: [jobId] });
    await expect(
      disputer.registerVerifiers({ jobId, verifiers: [{ circuitIdHash, verifier }] }),
    ).rejects.toBeInstanceOf(RegistryPermissionError);
    expect(await coordinator.verifierOf(jobId, circuitIdHash)).toBeNull();
  });
});

describe("a dispute", () => {
  it("re-verifies an anchored contribution's real proofs on chain: every chunk and the data proof are valid", async () => {
    const contribution = bundle.rounds[0]!.contributions.find((c) => c.deviceId === "honest-a")!;
    for (let index = 0; index < contribution.proofs.length; index++) {
      const result = await dispute(bundle, "honest-a", index);
      expect(result).toMatchObject({ proofValid: true, proofIndex: index, deviceId: "honest-a" });
      const [event] = await coordinator.getContributionDisputedEvents({
        jobId: BigInt(bundle.chain.chainJobId),
        round: 1,
        fromBlock: (await reader.getTransactionReceipt({ hash: result.txHash })).blockNumber,
      });
      expect(event).toMatchObject({
        round: 1,
        deviceId: contribution.deviceIdHash,
        proofIndex: BigInt(index),
        proofValid: true,
        disputer: anvil.accounts[7]!.address,
        txHash: result.txHash,
      });
      console.log(
        `dispute gasUsed: proof ${index} (${contribution.proofs[index]!.circuitId}, ${contribution.proofs[index]!.publicSignals.length} public signals) = ${result.gasUsed}`,
      );
      expect(result.gasUsed).toBeGreaterThan(200_000n);
      expect(result.gasUsed).toBeLessThan(600_000n);
    }
  });

  it("refuses a bundle tampered in a public signal or a leaf field with ContributionNotAnchored, and changes nothing", async () => {
    const jobId = BigInt(bundle.chain.chainJobId);
    const before = await coordinator.getContributionDisputedEvents({ jobId });
    const blockBefore = await reader.getBlockNumber();

    const signal = copy(bundle);
    const proof = signal.rounds[0]!.contributions.find((c) => c.deviceId === "honest-b")!
      .proofs[0]!;
    proof.publicSignals[1] = String(BigInt(proof.publicSignals[1]!) + 1n);
    const weight = copy(bundle);
    weight.rounds[0]!.contributions.find((c) => c.deviceId === "honest-b")!.samples += 1;
    const kzg = copy(bundle);
    kzg.rounds[0]!.contributions.find((c) => c.deviceId === "honest-b")!.kzgCommitments = [
      `0x${"0c".repeat(64)}`,
    ];

    for (const tampered of [signal, weight, kzg]) {
      const refused = await dispute(tampered, "honest-b", 0).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(ContributionNotAnchoredError);
      expect(refused).toMatchObject({ errorName: "ContributionNotAnchored", args: [jobId, 1] });
      expect((refused as Error).message).toMatch(
        new RegExp(`not one that round 1 of job ${jobId} anchored`),
      );
    }
    expect(await reader.getBlockNumber()).toBe(blockBefore);
    expect(await coordinator.getContributionDisputedEvents({ jobId })).toEqual(before);
  });

  it("cannot be starved of gas into a false verdict: a low gas limit reverts the dispute, it does not record 'invalid'", async () => {
    const jobId = BigInt(bundle.chain.chainJobId);
    const [anchored] = await coordinator.getRoundAnchoredEvents({ jobId, round: 1 });
    const call = buildDispute({
      bundle,
      jobId,
      round: 1,
      deviceId: "honest-a",
      proofIndex: 0,
      creditsRoot: anchored!.creditsRoot,
    });
    const data = encodeFunctionData({
      abi: fedproofRegistryAbi,
      functionName: "dispute",
      args: [
        call.jobId,
        call.round,
        { ...call.leaf, chunkHashes: [...call.leaf.chunkHashes] },
        [...call.merkleProof],
        {
          ...call.proof,
          a: [...call.proof.a],
          b: [[...call.proof.b[0]], [...call.proof.b[1]]],
          c: [...call.proof.c],
          publicSignals: [...call.proof.publicSignals],
        },
      ],
    });
    const before = await coordinator.getContributionDisputedEvents({ jobId });
    const { walletClient, publicClient } = createChainClients({
      rpcUrl: anvil.rpcUrl,
      chainId: anvil.chainId,
      account: anvil.accounts[8]!.privateKey,
      pollingIntervalMs: 50,
    });
    // Enough for everything but the pairing: an unguarded verifier would answer false here.
    const hash = await walletClient!.sendTransaction({ to: chain.registry, data, gas: 200_000n });
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    expect(receipt.status).toBe("reverted");
    expect(receipt.logs).toEqual([]);
    expect(await coordinator.getContributionDisputedEvents({ jobId })).toEqual(before);
  });

  it("gives proofValid false for an invalid proof the coordinator anchored, and verify then fails naming round and device", async () => {
    const result = await dispute(bundle, "bad", 0);
    expect(result.proofValid).toBe(false);
    // The bad device's data proof is fine: a dispute judges one proof.
    const data = bundle.rounds[0]!.contributions.find((c) => c.deviceId === "bad")!.proofs.length;
    expect((await dispute(bundle, "bad", data - 1)).proofValid).toBe(true);

    const report = await verifyModel({
      modelBytes,
      rpcUrl: anvil.rpcUrl,
      registry: chain.registry,
      bundle: copy(bundle),
    });
    expect(report.ok).toBe(false);
    const disputed = report.mismatches.filter((mismatch) => mismatch.kind === "dispute");
    expect(disputed).toEqual([
      {
        kind: "dispute",
        round: 1,
        deviceId: "bad",
        message: expect.stringMatching(
          /^round 1: proof 0 of device bad was disputed on chain \(transaction 0x[0-9a-f]{64}, by 0x[0-9a-fA-F]{40}\): the registered verifier REJECTED it/,
        ),
      },
    ]);
    expect(report.rounds[0]!.disputes.filter((item) => !item.proofValid)).toHaveLength(1);
    expect(report.rounds[0]!.disputes.filter((item) => item.proofValid).length).toBeGreaterThan(2);
    expect(report.notes.join("\n")).toMatch(
      /proof 0 of device honest-a was disputed on chain .*: the registered verifier accepted it/,
    );
    // The same proof fails off chain too: the chain's verdict and the pinned key agree.
    expect(report.mismatches.some((m) => m.kind === "proof-invalid" && m.deviceId === "bad")).toBe(
      true,
    );
    expect(report.rounds[0]!.aggregateHash).toBe(`0x${sha("dispute aggregate")}` as Hex);
  });
});

describe("fedproof dispute", () => {
  it("disputes every proof of a contribution from a bundle file, and exits 2 when the chain rejects one", async () => {
    const directory = await mkdtemp(join(tmpdir(), "fedproof-dispute-"));
    try {
      const bundleFile = join(directory, "provenance.json");
      const keyFile = join(directory, "key");
      await writeFile(bundleFile, JSON.stringify(bundle));
      await writeFile(keyFile, `${anvil.accounts[9]!.privateKey}\n`, { mode: 0o600 });
      const common = [
        "--bundle",
        bundleFile,
        "--round",
        "1",
        "--rpc-url",
        anvil.rpcUrl,
        "--registry",
        chain.registry,
        "--private-key-file",
        keyFile,
        "--json",
      ];
      const honest = await runCli(["dispute", ...common, "--device", "honest-b"]);
      expect(honest.stderr).toBe("");
      expect(honest.code).toBe(0);
      const upheld = JSON.parse(honest.stdout) as {
        disputes: { proofIndex: number; proofValid: boolean }[];
      };
      expect(upheld.disputes.map((item) => [item.proofIndex, item.proofValid])).toEqual([
        [0, true],
        [1, true],
      ]);

      const bad = await runCli(["dispute", ...common, "--device", "bad", "--proof", "0"]);
      expect(bad.code).toBe(2);
      expect(JSON.parse(bad.stdout)).toMatchObject({
        disputes: [{ round: 1, deviceId: "bad", proofIndex: 0, proofValid: false }],
      });

      const human = await runCli([
        "dispute",
        ...common.filter((item) => item !== "--json"),
        "--device",
        "nobody",
      ]);
      expect(human.code).toBe(1);
      expect(human.stderr).toMatch(/round 1 of the bundle has no contribution of nobody/);
      expect(`${human.stdout}${human.stderr}`).not.toContain(
        anvil.accounts[9]!.privateKey.slice(2),
      );
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  }, 120_000);
});
