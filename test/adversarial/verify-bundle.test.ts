/**
 * A colluding coordinator anchors what its verify worker should have refused, and hands out the
 * bundle: `fedproof verify` (the CLI, run as a process) must refuse it on its own, naming the
 * round, the device and what did not match. Each bundle is anchored on a real Anvil with real
 * proofs on the small test circuits (chunks of 64 values, a 128-parameter model: two chunks):
 *
 * (a) the chunk proofs were made against a C2 = 2^40 of the prover's choosing, for an update
 *     far above the job's clip bound;
 * (b) the contribution carries no DataValidity proof;
 * (c) the last chunk proof is missing (its commitment anchored over the first chunk only);
 * (d) the contribution is weighted by 1,000,000 samples, its data proof proves 40.
 *
 * The honest bundle verifies with exit 0; one without the spec, or with proofs but no keys,
 * exits 2 naming what it could not check.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { releaseSnarkjsThreads } from "../../client/core/proving/release-snarkjs.js";
import { buildContracts } from "../../contracts/build.js";
import type { ChainConfig } from "../../coordinator/chain/chain-config.js";
import { JobStore } from "../../coordinator/store/job-store.js";
import { parseJobSpec } from "../../protocol/job/job-spec.js";
import type { ProofRecord } from "../../protocol/provenance/round-leaves.js";
import { poseidonSponge } from "../../protocol/proving/poseidon.js";
import { quantizedNormBound } from "../../protocol/update/quantize.js";
import { type StartAnvilReturnType, startAnvil } from "../harness/anvil.js";
import {
  fixtureChallengeChain,
  fixtureModel,
  seedCompletedRounds,
} from "../harness/chain-fixture.js";
import { deployTestRegistry } from "../harness/deploy-test-registry.js";
import {
  PROVEN_SCHEMA,
  type ProvingFixture,
  provingFixture,
} from "../harness/proven-contribution.js";
import { deletePrefix, TEST_REDIS_URL, uniquePrefix } from "../harness/redis.js";

await buildContracts();
const { createRegistryClient } = await import("../../coordinator/chain/registry-client.js");
const { anchorRoundJob } = await import("../../coordinator/chain/anchor-worker.js");
const { registerJobOnChain } = await import("../../coordinator/chain/register-job.js");
const { exportBundle } = await import("../../coordinator/chain/export-bundle.js");
const { jobVerificationKeyHash } = await import("../../protocol/provenance/job-vkey-hash.js");

const FEDPROOF = fileURLToPath(new URL("../../bin/fedproof.js", import.meta.url));
const PARAMETERS = 128;
const ATTACKER = "sim-001";

type Attack = "prover-c2" | "no-data-proof" | "missing-chunk" | "inflated-samples";

interface Written {
  model: string;
  bundle: string;
  json: Record<string, unknown>;
}

interface CliReport {
  ok: boolean;
  mismatches: { kind: string; round?: number; deviceId?: string; message: string }[];
  unchecked: string[];
  proofs: { status: string; checked: number; valid: number };
}

let anvil: StartAnvilReturnType;
let chain: ChainConfig;
let redis: Redis;
let store: JobStore;
let proving: ProvingFixture;
let directory: string;
const prefix = uniquePrefix("adversarial-verify");
const spec = parseJobSpec({
  schema: PROVEN_SCHEMA,
  proofs: true,
  rounds: 1,
  clientsPerRound: 2,
});
const c2 = quantizedNormBound(spec.clipNorm, spec.quantization.scale);

/** One anchored round of two devices, sim-000 honest and sim-001 running `attack`. */
async function anchoredBundle(name: string, attack?: Attack): Promise<Written> {
  const jobId = `verify-${name}`;
  const salt = `${prefix}/${jobId}`;
  const parent = createHash("sha256")
    .update(fixtureModel(salt, 0, PARAMETERS))
    .digest("hex");
  const devices = ["sim-000", ATTACKER];
  const enrolled = new Map(devices.map((d, i) => [d, proving.enrol(7 + i)]));
  const contributions = new Map<string, { proofs: ProofRecord[]; commitment: string }>();
  for (const [index, deviceId] of devices.entries()) {
    const attacker = deviceId === ATTACKER ? attack : undefined;
    // The prover-chosen bound lets through an update whose Σq² is ~50 times the job's C2.
    const q =
      attacker === "prover-c2"
        ? new Int32Array(PARAMETERS).fill(20_000)
        : new Int32Array(PARAMETERS).map((_, i) => ((i + index) % 9) - 4);
    const proven = await proving.prove({
      spec,
      jobId,
      round: 1,
      parentHash: parent,
      roundSeed: fixtureChallengeChain(salt, 1).seeds[1]!,
      deviceId,
      q,
      c2: attacker === "prover-c2" ? 2n ** 40n : c2,
      dataset: enrolled.get(deviceId)!.dataset,
    });
    if (attacker === "no-data-proof") proven.proofs = proven.proofs.slice(0, 2);
    if (attacker === "missing-chunk") {
      // A coordinator anchoring the one proven chunk makes the commitment consistent with it.
      const [first, , data] = proven.proofs;
      proven.proofs = [first!, data!];
      proven.commitment = poseidonSponge([BigInt(first!.publicSignals[0]!)])
        .toString(16)
        .padStart(64, "0");
    }
    contributions.set(deviceId, proven);
  }
  const seeded = await seedCompletedRounds({
    store,
    jobId,
    rounds: 1,
    devicesPerRound: 2,
    salt,
    paramCount: PARAMETERS,
    spec: { schema: PROVEN_SCHEMA, proofs: true, clientsPerRound: 2 },
    enrolment: (deviceId) => enrolled.get(deviceId)!.enrolment,
    samples: (_, deviceId) =>
      deviceId === ATTACKER && attack === "inflated-samples"
        ? 1_000_000
        : enrolled.get(deviceId)!.dataset.sampleCount,
    commitment: (_, deviceId) => contributions.get(deviceId)!.commitment,
    proofs: (_, deviceId) => contributions.get(deviceId)!.proofs,
  });
  const { chainJobId } = await registerJobOnChain({
    chain,
    job: seeded.job,
    vkeyHash: jobVerificationKeyHash(proving.verificationKeys),
    pollingIntervalMs: 50,
  });
  const registry = createRegistryClient({
    rpcUrl: chain.rpcUrl,
    chainId: chain.chainId,
    registry: chain.registry,
    account: chain.privateKey,
    pollingIntervalMs: 50,
  });
  await anchorRoundJob({ store, registry }, { jobId, round: 1, chainJobId });
  const bundle = await exportBundle({
    store,
    jobId,
    chain: { chainId: chain.chainId, registry: chain.registry, chainJobId },
    verificationKeys: proving.verificationKeys,
  });
  return write(name, seeded.models[1]!, JSON.parse(JSON.stringify(bundle)));
}

async function write(
  name: string,
  model: Uint8Array,
  json: Record<string, unknown>,
): Promise<Written> {
  const written = {
    model: path.join(directory, `${name}.bin`),
    bundle: path.join(directory, `${name}.json`),
    json,
  };
  await writeFile(written.model, model);
  await writeFile(written.bundle, JSON.stringify(json));
  return written;
}

function verifyCli(
  written: Written,
): Promise<{ code: number | null; report: CliReport; stderr: string }> {
  const args = [
    FEDPROOF,
    "verify",
    "--model",
    written.model,
    "--bundle",
    written.bundle,
    "--rpc-url",
    anvil.rpcUrl,
    "--registry",
    chain.registry,
    "--json",
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("exit", (code) => {
      try {
        resolve({ code, report: JSON.parse(stdout) as CliReport, stderr });
      } catch {
        reject(new Error(`fedproof verify exited ${code} without a JSON report: ${stderr}`));
      }
    });
  });
}

const bundles = new Map<string, Written>();

beforeAll(async () => {
  directory = await mkdtemp(path.join(os.tmpdir(), "fedproof-adversarial-verify-"));
  proving = await provingFixture();
  anvil = await startAnvil();
  ({ chain } = await deployTestRegistry(anvil));
  redis = new Redis(TEST_REDIS_URL);
  store = new JobStore({ redis, prefix });
  bundles.set("honest", await anchoredBundle("honest"));
  for (const attack of [
    "prover-c2",
    "no-data-proof",
    "missing-chunk",
    "inflated-samples",
  ] as const) {
    bundles.set(attack, await anchoredBundle(attack, attack));
  }
}, 600_000);

afterAll(async () => {
  await anvil?.stop();
  redis?.disconnect();
  await deletePrefix(prefix);
  await releaseSnarkjsThreads();
  if (directory) await rm(directory, { recursive: true, force: true });
});

/** The attacker's mismatches; the honest device beside it is never blamed. */
function blamed(report: CliReport) {
  expect(report.mismatches.filter((m) => m.deviceId && m.deviceId !== ATTACKER)).toEqual([]);
  return report.mismatches.filter((m) => m.deviceId === ATTACKER).map((m) => m.message);
}

describe("fedproof verify on bundles a colluding coordinator anchored", () => {
  it("verifies the honest bundle: exit 0, every proof checked", async () => {
    const { code, report, stderr } = await verifyCli(bundles.get("honest")!);
    expect(stderr).toBe("");
    expect(report.mismatches).toEqual([]);
    expect(report.unchecked).toEqual([]);
    expect(report.ok).toBe(true);
    // Two devices, each two chunk proofs and one data proof.
    expect(report.proofs).toEqual({ status: "verified", checked: 6, valid: 6 });
    expect(code).toBe(0);
  });

  it("(a) refuses chunk proofs made against a prover-chosen C2 = 2^40", async () => {
    const { code, report, stderr } = await verifyCli(bundles.get("prover-c2")!);
    expect(code).toBe(2);
    expect(report.ok).toBe(false);
    // The proofs themselves are valid: only the bound gives them away.
    expect(report.proofs).toEqual({ status: "failed", checked: 6, valid: 6 });
    expect(blamed(report)).toEqual([
      `round 1: proofs of device sim-001: UpdateNorm chunk proof 0 proves Σq² against C2 = 1099511627776, the round's bound is ${c2}`,
      `round 1: proofs of device sim-001: UpdateNorm chunk proof 1 proves Σq² against C2 = 1099511627776, the round's bound is ${c2}`,
      `round 1: proofs of device sim-001: the proven Σq² = ${128n * 20_000n ** 2n} exceeds the clip bound C2 = ${c2}`,
    ]);
    expect(stderr).toMatch(/round 1: proofs of device sim-001: UpdateNorm chunk proof 0 proves/);
  });

  it("(b) refuses a contribution without its DataValidity proof", async () => {
    const { code, report } = await verifyCli(bundles.get("no-data-proof")!);
    expect(code).toBe(2);
    expect(blamed(report)).toEqual([
      "round 1: proofs of device sim-001: expected one data-validity proof, got 0",
    ]);
  });

  it("(c) refuses chunk proofs that do not cover the model", async () => {
    const { code, report } = await verifyCli(bundles.get("missing-chunk")!);
    expect(code).toBe(2);
    expect(blamed(report)).toEqual([
      "round 1: proofs of device sim-001: expected 2 UpdateNorm chunk proofs for 128 parameters (chunks of 64), got 1",
    ]);
  });

  it("(d) refuses 1,000,000 claimed samples when the data proof proves 40", async () => {
    const { code, report } = await verifyCli(bundles.get("inflated-samples")!);
    expect(code).toBe(2);
    expect(blamed(report)).toEqual([
      "round 1: proofs of device sim-001: the data-validity proof proves 40 samples, the contribution claims 1000000 (its aggregation weight)",
    ]);
  });

  it("does not pass a bundle without the spec, or with proofs but no keys: exit 2, naming what it could not check", async () => {
    const honest = bundles.get("honest")!;
    const { spec: _, ...withoutSpec } = honest.json;
    const noSpec = await verifyCli(
      await write("no-spec", await readFile(honest.model), withoutSpec),
    );
    expect(noSpec.code).toBe(2);
    expect(noSpec.report.mismatches).toEqual([]);
    expect(noSpec.report.unchecked).toEqual([
      "the bundle carries no job spec: the proofs' clip bound, data schema and whether the job requires proofs are not checked",
    ]);
    expect(noSpec.stderr).toMatch(
      /not verified, 1 thing could not be checked: the bundle carries no job spec/,
    );

    const noKeys = await verifyCli(
      await write("no-keys", await readFile(honest.model), {
        ...honest.json,
        verificationKeys: {},
      }),
    );
    expect(noKeys.code).toBe(2);
    expect(noKeys.report.proofs.status).toBe("unchecked");
    expect(noKeys.report.mismatches.map((m) => m.kind)).toEqual(["verification-key"]);
    expect(noKeys.report.unchecked).toEqual([
      "proofs: not checked against a pinned verification key (the bundle's keys are missing or not the ones the job pinned)",
    ]);
  });
});
