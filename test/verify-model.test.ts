/**
 * `verifyModel` on a real Anvil, with rounds anchored by the real anchor job from a real Redis
 * store: an honest 3-round chain and bundle verify; a flipped model byte, a tampered bundle, a
 * bundle from another job and a bad proof are each named precisely.
 */
import { createHash } from "node:crypto";
import { Redis } from "ioredis";
import type { Address } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { releaseSnarkjsThreads } from "../client/core/proving/release-snarkjs.js";
import { buildContracts } from "../contracts/build.js";
import type { ChainConfig } from "../coordinator/chain/chain-config.js";
import { JobStore } from "../coordinator/store/job-store.js";
import { type JobSpec, parseJobSpec } from "../protocol/job/job-spec.js";
import type { ProofRecord } from "../protocol/provenance/round-leaves.js";
import { quantizedNormBound } from "../protocol/update/quantize.js";
import { type StartAnvilReturnType, startAnvil } from "./harness/anvil.js";
import {
  type FixtureEnrolment,
  fixtureChallengeChain,
  fixtureModel,
  type SeededJob,
  seedCompletedRounds,
} from "./harness/chain-fixture.js";
import { startTestCoordinator, type TestCoordinator } from "./harness/coordinator.js";
import { deployTestRegistry } from "./harness/deploy-test-registry.js";
import { PROVEN_SCHEMA, provingFixture } from "./harness/proven-contribution.js";
import { deletePrefix, TEST_REDIS_URL, uniquePrefix } from "./harness/redis.js";

await buildContracts();
const { createRegistryClient } = await import("../coordinator/chain/registry-client.js");
const { anchorRoundJob } = await import("../coordinator/chain/anchor-worker.js");
const { registerJobOnChain } = await import("../coordinator/chain/register-job.js");
const { buildBundleRound, parseProvenanceBundle } = await import(
  "../verifier/provenance-bundle.js"
);
const { fetchBundleFromCoordinator } = await import("../verifier/fetch-bundle.js");
const { exportBundle } = await import("../coordinator/chain/export-bundle.js");
const { verifyModel } = await import("../verifier/verify-model.js");
const { jobVerificationKeyHash } = await import("../protocol/provenance/job-vkey-hash.js");

type ProvenanceBundle = Awaited<ReturnType<typeof exportBundle>>;
type VerificationKeys = Parameters<typeof jobVerificationKeyHash>[0];

let anvil: StartAnvilReturnType;
let chain: ChainConfig;
let redis: Redis;
let store: JobStore;
const prefix = uniquePrefix("verify-model");
let jobCounter = 0;

interface AnchoredJob extends SeededJob {
  chainJobId: string;
  bundle: ProvenanceBundle;
}

/** Seeds `rounds` completed rounds, registers the job, anchors every round, exports the bundle. */
async function anchoredJob(
  options: {
    rounds?: number;
    devices?: number;
    proofs?: (round: number, deviceId: string) => ProofRecord[];
    verificationKeys?: VerificationKeys;
    epsilon?: number;
    targetStore?: JobStore;
    jobId?: string;
    commitment?: (round: number, deviceId: string) => string;
    samples?: (round: number, deviceId: string) => number;
    enrolment?: (deviceId: string) => FixtureEnrolment;
    spec?: Partial<JobSpec>;
    /** The round record's aggregate hash (sha256 hex), as the aggregation step stores it. */
    aggregateHash?: (round: number) => string;
  } = {},
): Promise<AnchoredJob> {
  jobCounter += 1;
  const jobId = options.jobId ?? `job-${jobCounter}`;
  const targetStore = options.targetStore ?? store;
  const seeded = await seedCompletedRounds({
    store: targetStore,
    jobId,
    rounds: options.rounds ?? 3,
    devicesPerRound: options.devices ?? 4,
    salt: `${prefix}/${jobId}`,
    proofs: options.proofs,
    commitment: options.commitment,
    samples: options.samples,
    enrolment: options.enrolment,
    spec: options.spec,
    epsilon: options.epsilon,
  });
  if (options.aggregateHash) {
    for (let round = 1; round <= seeded.job.spec.rounds; round++) {
      await targetStore.updateRound(jobId, round, { aggregateHash: options.aggregateHash(round) });
    }
  }
  const verificationKeys = options.verificationKeys ?? {};
  const { chainJobId } = await registerJobOnChain({
    chain,
    job: seeded.job,
    vkeyHash: jobVerificationKeyHash(verificationKeys),
    pollingIntervalMs: 50,
  });
  const registry = createRegistryClient({
    rpcUrl: chain.rpcUrl,
    chainId: chain.chainId,
    registry: chain.registry,
    account: chain.privateKey,
    pollingIntervalMs: 50,
  });
  for (let round = 1; round <= seeded.job.spec.rounds; round++) {
    await anchorRoundJob({ store: targetStore, registry }, { jobId, round, chainJobId });
  }
  const bundle = await exportBundle({
    store: targetStore,
    jobId,
    chain: { chainId: chain.chainId, registry: chain.registry, chainJobId },
    verificationKeys,
  });
  return { ...seeded, chainJobId, bundle };
}

function verify(
  modelBytes: Uint8Array,
  bundle: ProvenanceBundle,
  registry: Address = chain.registry,
) {
  return verifyModel({ modelBytes, rpcUrl: anvil.rpcUrl, registry, bundle });
}

/** A deep copy, as a verifier would read it from a file. */
function copy(bundle: ProvenanceBundle): ProvenanceBundle {
  return parseProvenanceBundle(JSON.parse(JSON.stringify(bundle)));
}

let honest: AnchoredJob;

beforeAll(async () => {
  anvil = await startAnvil();
  ({ chain } = await deployTestRegistry(anvil));
  redis = new Redis(TEST_REDIS_URL);
  store = new JobStore({ redis, prefix });
  honest = await anchoredJob({ epsilon: 0.75 });
});

afterAll(async () => {
  await anvil?.stop();
  redis?.disconnect();
  await deletePrefix(prefix);
  await releaseSnarkjsThreads();
});

describe("an honest job", () => {
  it("verifies the final model: 3 rounds, their contributors, and says plainly there are no proofs", async () => {
    const report = await verify(honest.models[3]!, copy(honest.bundle));
    expect(report.mismatches).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.modelHash).toBe(`0x${honest.modelHashes[3]}`);
    expect(report.job?.chainJobId).toBe(honest.chainJobId);
    expect(report.rounds.map((round) => [round.round, round.contributors])).toEqual([
      [1, 4],
      [2, 4],
      [3, 4],
    ]);
    for (const round of report.rounds) {
      expect(round.contributionsRoot).toBe("match");
      expect(round.creditsRoot).toBe("match");
      expect(round.epsilon).toBe(0.75);
      expect(round.ok).toBe(true);
    }
    expect(report.proofs).toEqual({ status: "none", checked: 0, valid: 0 });
    expect(report.notes[0]).toMatch(/^no proofs: job \d+ pins no verification key/);
  });

  it("verifies an intermediate model down to round 1, and the initial model with no rounds", async () => {
    const middle = await verify(honest.models[2]!, honest.bundle);
    expect(middle.ok).toBe(true);
    expect(middle.rounds.map((round) => round.round)).toEqual([1, 2]);
    expect(middle.notes.join("\n")).toMatch(
      /also describes round 3, after this model; not checked/,
    );

    const initial = await verify(honest.models[0]!, honest.bundle);
    expect(initial.ok).toBe(true);
    expect(initial.rounds).toEqual([]);
  });

  it("records the anchor in every round of the exported bundle", () => {
    for (const round of honest.bundle.rounds) expect(round.anchorTx).toMatch(/^0x[0-9a-f]{64}$/);
  });
});

describe("the aggregation column", () => {
  it("is unchecked, with a note, when the bundle carries no aggregates; never verified", async () => {
    // The fixture's models are not aggregates, and its bundle is exported without artifacts.
    const report = await verify(honest.models[3]!, copy(honest.bundle));
    expect(report.rounds.map((round) => round.aggregation)).toEqual([
      "unchecked",
      "unchecked",
      "unchecked",
    ]);
    expect(report.notes).toContain(
      "round 1: aggregation not checked: the bundle carries no initial model to replay from",
    );
  });

  it("says a robust strategy's aggregation is not verifiable without the updates", async () => {
    const job = await anchoredJob({
      rounds: 2,
      spec: { strategy: { name: "median", params: {} } },
    });
    const report = await verify(job.models[2]!, copy(job.bundle));
    expect(report.mismatches).toEqual([]);
    expect(report.rounds.map((round) => round.aggregation)).toEqual([
      "not verifiable",
      "not verifiable",
    ]);
    expect(report.notes.join("\n")).toMatch(
      /aggregation not verifiable without the updates: strategy median/,
    );
    // Everything that can be checked matched: documented as ok.
    expect(report.ok).toBe(true);
  });
});

describe("a model that is not the one anchored", () => {
  it("fails on one flipped byte: the model hash is not anchored", async () => {
    const flipped = new Uint8Array(honest.models[3]!);
    flipped[100] = flipped[100]! ^ 0x01;
    const report = await verify(flipped, honest.bundle);
    expect(report.ok).toBe(false);
    expect(report.rounds).toEqual([]);
    expect(report.mismatches).toHaveLength(1);
    expect(report.mismatches[0]!.kind).toBe("model-not-anchored");
    expect(report.mismatches[0]!.message).toMatch(
      new RegExp(`^model hash 0x[0-9a-f]{64} is not anchored in registry ${chain.registry}`),
    );
  });
});

describe("the anchored aggregate hash", () => {
  it("is anchored from the round record and carried by the bundle; a changed one is named, a missing one unchecked", async () => {
    const sha = (text: string) => createHash("sha256").update(text).digest("hex");
    const job = await anchoredJob({
      rounds: 2,
      devices: 2,
      aggregateHash: (round) => sha(`${prefix} aggregate ${round}`),
    });
    const report = await verify(job.models[2]!, copy(job.bundle));
    expect(report.mismatches).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.rounds.map((round) => round.aggregateHash)).toEqual([
      `0x${sha(`${prefix} aggregate 1`)}`,
      `0x${sha(`${prefix} aggregate 2`)}`,
    ]);
    expect(report.rounds.map((round) => round.disputes)).toEqual([[], []]);

    const changed = copy(job.bundle);
    changed.rounds[1]!.aggregateHash = `0x${sha("another aggregate")}`;
    const changedReport = await verify(job.models[2]!, changed);
    expect(changedReport.ok).toBe(false);
    expect(changedReport.mismatches).toEqual([
      {
        kind: "aggregate-hash",
        round: 2,
        message: `round 2: the bundle names aggregate hash 0x${sha("another aggregate")}, the chain anchors 0x${sha(`${prefix} aggregate 2`)}`,
      },
    ]);

    const missing = copy(job.bundle);
    delete missing.rounds[0]!.aggregateHash;
    const missingReport = await verify(job.models[2]!, missing);
    expect(missingReport.ok).toBe(false);
    expect(missingReport.unchecked).toContainEqual(
      expect.stringMatching(/^round 1: the bundle does not give the round's aggregate hash/),
    );
  });

  it("is the zero hash for rounds whose record has none (strategies that are not linear)", () => {
    for (const round of honest.bundle.rounds) {
      expect(round.aggregateHash).toBe(`0x${"0".repeat(64)}`);
    }
  });
});

describe("a tampered bundle", () => {
  it("names the round and the device whose contribution changed", async () => {
    const bundle = copy(honest.bundle);
    const contribution = bundle.rounds[1]!.contributions.find((c) => c.deviceId === "sim-003")!;
    contribution.samples += 1;
    const report = await verify(honest.models[3]!, bundle);
    expect(report.ok).toBe(false);
    expect(report.mismatches).toContainEqual({
      kind: "contribution",
      round: 2,
      deviceId: "sim-003",
      message: "round 2: contribution of device sim-003 does not match the anchored root",
    });
    // Only round 2 and only that device are blamed for the contributions.
    const blamed = report.mismatches.filter((m) => m.kind === "contribution");
    expect(blamed.map((m) => [m.round, m.deviceId])).toEqual([[2, "sim-003"]]);
    expect(report.rounds.map((round) => round.ok)).toEqual([true, false, true]);
  });

  it("names the device whose public key or commitment was swapped", async () => {
    const bundle = copy(honest.bundle);
    bundle.rounds[0]!.contributions[1]!.publicKey = "ab".repeat(64);
    bundle.rounds[2]!.contributions[2]!.commitment = "01";
    const report = await verify(honest.models[3]!, bundle);
    expect(report.mismatches.map((m) => m.message)).toEqual(
      expect.arrayContaining([
        "round 1: contribution of device sim-001 does not match the anchored root",
        "round 3: contribution of device sim-002 does not match the anchored root",
      ]),
    );
  });

  it("notices a contribution left out, and a redirected payout", async () => {
    const dropped = copy(honest.bundle);
    dropped.rounds[2]!.contributions.pop();
    const droppedReport = await verify(honest.models[3]!, dropped);
    expect(droppedReport.mismatches.map((m) => m.message)).toContain(
      "round 3: the bundle lists 3 contributions, the anchor counts 4",
    );

    const redirected = copy(honest.bundle);
    redirected.rounds[0]!.contributions[0]!.payoutAddress =
      "0x3333333333333333333333333333333333333333";
    const redirectedReport = await verify(honest.models[3]!, redirected);
    expect(redirectedReport.ok).toBe(false);
    expect(redirectedReport.mismatches).toContainEqual(
      expect.objectContaining({ kind: "credits-root", round: 1 }),
    );
  });

  it("names the round, without a device, when the bundle has no Merkle proofs", async () => {
    const bundle = copy(honest.bundle);
    for (const round of bundle.rounds) for (const c of round.contributions) delete c.merkleProof;
    bundle.rounds[1]!.contributions[0]!.samples = 1;
    const report = await verify(honest.models[3]!, bundle);
    expect(report.mismatches.map((m) => m.message)).toContain(
      "round 2: the contributions in the bundle do not match the anchored root (the bundle has no per-contribution proofs to tell which)",
    );
  });

  it("blames the round, not every device, when the whole bundle round was built from other data", async () => {
    const bundle = copy(honest.bundle);
    const round = bundle.rounds[1]!;
    // What a coordinator serving altered contributions would export: consistent proofs, other root.
    bundle.rounds[1] = buildBundleRound({
      ...round,
      contributions: round.contributions.map((c, index) => ({
        ...c,
        payoutAddress: c.payoutAddress ?? "",
        samples: index === 0 ? c.samples + 5 : c.samples,
      })),
    });
    const report = await verify(honest.models[3]!, bundle);
    expect(report.mismatches.map((m) => m.message)).toContain(
      "round 2: none of the 4 contributions in the bundle match the anchored root",
    );
    expect(report.mismatches.filter((m) => m.kind === "contribution")).toEqual([]);
  });

  it("refuses a bundle that describes another job or spec", async () => {
    const other = await anchoredJob({ rounds: 1, devices: 2 });
    const report = await verify(honest.models[3]!, other.bundle);
    expect(report.ok).toBe(false);
    const kinds = report.mismatches.map((m) => m.kind);
    expect(kinds).toContain("bundle-job");
    expect(kinds).toContain("round-missing");

    const spec = copy(honest.bundle);
    spec.spec = { ...spec.spec!, clipNorm: 1000 };
    const specReport = await verify(honest.models[3]!, spec);
    expect(specReport.mismatches.map((m) => m.message)).toContain(
      `the job spec in the bundle does not hash to the bundle's spec hash ${honest.bundle.specHash}`,
    );
  });

  it("rejects a file that is not a bundle, naming the field", () => {
    const broken = JSON.parse(JSON.stringify(honest.bundle));
    broken.rounds[0].contributionsRoot = "0x12";
    expect(() => parseProvenanceBundle(broken)).toThrow(
      /bundle\.rounds\.0\.contributionsRoot: a 0x-prefixed 32-byte hex string/,
    );
  });
});

describe("proofs", () => {
  let proofJob: AnchoredJob;

  beforeAll(async () => {
    const proving = await provingFixture();
    const jobId = "proof-job";
    const salt = `${prefix}/${jobId}`;
    const spec = parseJobSpec({ schema: PROVEN_SCHEMA, proofs: true, rounds: 2 });
    const c2 = quantizedNormBound(spec.clipNorm, spec.quantization.scale);
    const devices = ["sim-000", "sim-001", "sim-002"];
    const enrolled = new Map(devices.map((d, i) => [d, proving.enrol(100 + i)]));
    const proven = new Map<string, { proofs: ProofRecord[]; commitment: string }>();
    for (const round of [1, 2]) {
      const parent = createHash("sha256")
        .update(fixtureModel(salt, round - 1))
        .digest("hex");
      for (const [index, deviceId] of devices.entries()) {
        const q = new Int32Array(64).map((_, i) => ((i + index + round) % 7) - 3);
        proven.set(
          `${round}/${deviceId}`,
          await proving.prove({
            spec,
            jobId,
            round,
            parentHash: parent,
            roundSeed: fixtureChallengeChain(salt, 2).seeds[round]!,
            deviceId,
            q,
            c2,
            dataset: enrolled.get(deviceId)!.dataset,
          }),
        );
      }
    }
    // Round 2: sim-001's chunk proof has an altered partial sum, so its pairing fails; sim-002
    // replays its valid round-1 chunk proof (and commitment), which verifies but is bound to
    // round 1, beside an honest round-2 data proof.
    const pick = (round: number, deviceId: string) => {
      const own = proven.get(`${round}/${deviceId}`)!;
      if (round !== 2 || deviceId !== "sim-002") return own;
      const replayed = proven.get(`1/${deviceId}`)!;
      return { proofs: [replayed.proofs[0]!, own.proofs[1]!], commitment: replayed.commitment };
    };
    proofJob = await anchoredJob({
      jobId,
      rounds: 2,
      devices: 3,
      spec: { schema: PROVEN_SCHEMA, proofs: true },
      verificationKeys: proving.verificationKeys,
      enrolment: (deviceId) => enrolled.get(deviceId)!.enrolment,
      samples: (_, deviceId) => enrolled.get(deviceId)!.dataset.sampleCount,
      commitment: (round, deviceId) => pick(round, deviceId).commitment,
      proofs: (round, deviceId) => {
        const { proofs } = pick(round, deviceId);
        if (round !== 2 || deviceId !== "sim-001") return proofs;
        const signals = [...proofs[0]!.publicSignals];
        signals[1] = String(BigInt(signals[1]!) + 1n);
        return [{ ...proofs[0]!, publicSignals: signals }, proofs[1]!];
      },
    });
  }, 300_000);

  it("verifies honest proofs against the pinned key, bound to their round and device", async () => {
    const report = await verify(proofJob.models[1]!, copy(proofJob.bundle));
    expect(report.mismatches).toEqual([]);
    expect(report.unchecked).toEqual([]);
    expect(report.ok).toBe(true);
    // Three devices, each one chunk proof and one data proof.
    expect(report.proofs).toEqual({ status: "verified", checked: 6, valid: 6 });

    const reference = await verifyModel({
      modelBytes: proofJob.models[1]!,
      rpcUrl: anvil.rpcUrl,
      registry: chain.registry,
      bundle: proofJob.bundle,
      proofCheck: "snarkjs",
    });
    expect(reference.ok).toBe(true);
    expect(reference.proofs).toEqual({ status: "verified", checked: 6, valid: 6 });
  });

  it("names a proof that does not verify, and a valid proof replayed from another round", async () => {
    const report = await verify(proofJob.models[2]!, copy(proofJob.bundle));
    expect(report.ok).toBe(false);
    expect(report.rounds.map((round) => round.proofs.status)).toEqual(["verified", "failed"]);
    expect(report.proofs).toEqual({ status: "failed", checked: 12, valid: 11 });
    expect(report.mismatches).toHaveLength(2);
    expect(report.mismatches[0]).toMatchObject({
      kind: "proof-binding",
      round: 2,
      deviceId: "sim-002",
      check: "context",
    });
    expect(report.mismatches[0]!.message).toBe(
      "round 2: proofs of device sim-002: UpdateNorm chunk proof 0 is bound to another job, round, parent model, device, round challenge seed or chunk position",
    );
    expect(report.mismatches[1]).toMatchObject({
      kind: "proof-invalid",
      round: 2,
      deviceId: "sim-001",
    });
    expect(report.mismatches[1]!.message).toMatch(
      /^round 2: proof 0 \(circuit update-norm-.*\) of device sim-001 does not verify against the pinned verification key$/,
    );
  });

  it("refuses keys that are not the pinned ones, and missing proofs when a key is pinned", async () => {
    const swapped = copy(proofJob.bundle);
    const [id] = Object.keys(swapped.verificationKeys);
    swapped.verificationKeys[id!] = { ...swapped.verificationKeys[id!]!, nPublic: 99 };
    const report = await verify(proofJob.models[1]!, swapped);
    expect(report.ok).toBe(false);
    expect(report.mismatches[0]!.kind).toBe("verification-key");
    expect(report.proofs.status).toBe("unchecked");

    const stripped = copy(proofJob.bundle);
    stripped.rounds[0]!.contributions[0]!.proofs = [];
    const strippedReport = await verify(proofJob.models[1]!, stripped);
    expect(strippedReport.mismatches.map((m) => m.message)).toContain(
      "round 1: contribution of device sim-000 carries no proof, though the job pins a verification key",
    );
  });
});

describe("a bundle fetched from the coordinator", () => {
  let coordinator: TestCoordinator;
  beforeAll(async () => {
    coordinator = await startTestCoordinator("verify-fetch", { workers: [] });
  });
  afterAll(async () => {
    await coordinator?.dispose();
  });

  it("verifies the model through the Provenance service", async () => {
    const job = await anchoredJob({ rounds: 2, devices: 3, targetStore: coordinator.store });
    const bundle = await fetchBundleFromCoordinator(coordinator.address, job.job.jobId, {
      registry: chain.registry,
      chainId: chain.chainId,
      chainJobId: job.chainJobId,
    });
    expect(bundle.rounds.map((round) => round.contributors)).toEqual([3, 3]);
    const report = await verify(job.models[2]!, bundle);
    expect(report.mismatches).toEqual([]);
    expect(report.rounds.map((round) => round.contributionsRoot)).toEqual(["match", "match"]);
    // Without payout addresses from the service the credits cannot be checked, and the report says so.
    const credits = report.rounds.map((round) => round.creditsRoot);
    if (credits.includes("unchecked")) {
      expect(report.notes.join("\n")).toMatch(/credits not checked/);
    } else {
      expect(credits).toEqual(["match", "match"]);
    }
  });
});
