/**
 * The provenance verbs as a user runs them, in child processes: a demo-like directory whose chain
 * was stopped is served again by `fedproof chain serve --state DIR`; `fedproof verify` exits 0 on
 * the final model and lists its rounds, exits 2 on a flipped byte or a tampered bundle, naming the
 * mismatch; `fedproof job provenance` exports a bundle that verifies.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildContracts } from "../contracts/build.js";
import { JobStore } from "../coordinator/store/job-store.js";
import { startAnvil } from "./harness/anvil.js";
import { seedCompletedRounds } from "./harness/chain-fixture.js";
import { startTestCoordinator, type TestCoordinator } from "./harness/coordinator.js";
import { deployTestRegistry } from "./harness/deploy-test-registry.js";
import { deletePrefix, TEST_REDIS_URL, uniquePrefix } from "./harness/redis.js";

await buildContracts();
const { createRegistryClient } = await import("../coordinator/chain/registry-client.js");
const { anchorRoundJob } = await import("../coordinator/chain/anchor-worker.js");
const { registerJobOnChain } = await import("../coordinator/chain/register-job.js");
const { exportBundle } = await import("../coordinator/chain/export-bundle.js");
const { chainStatePath, writeChainDescriptor } = await import("../cli/demo/chain-state-dir.js");

const ENTRY = fileURLToPath(new URL("./chain-cli-entry.ts", import.meta.url));
const TSX = fileURLToPath(new URL("../node_modules/.bin/tsx", import.meta.url));

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(args: string[]): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(TSX, [ENTRY, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

const prefix = uniquePrefix("chain-cli");
let directory: string;
let redis: Redis;
let store: JobStore;
let serve: ChildProcess | undefined;
let served: { rpcUrl: string; registry: string; chainId: number };
let coordinator: TestCoordinator | undefined;
let chainJobIdOfFetched = "";
let fetchedJobId = "";

beforeAll(async () => {
  directory = await mkdtemp(path.join(os.tmpdir(), "fedproof-chain-cli-"));
  redis = new Redis(TEST_REDIS_URL);
  store = new JobStore({ redis, prefix });
  coordinator = await startTestCoordinator("chain-cli", { workers: [] });

  // A demo's chain: anchored rounds, a bundle, chain.json, then the chain stops (state dumped).
  const anvil = await startAnvil({ statePath: chainStatePath(directory) });
  const key = anvil.accounts[0]!.privateKey;
  const { registry, chain } = await deployTestRegistry(anvil);
  const client = createRegistryClient({
    rpcUrl: anvil.rpcUrl,
    chainId: anvil.chainId,
    registry,
    account: key,
    pollingIntervalMs: 50,
  });
  const anchorAll = async (target: JobStore, jobId: string, salt: string) => {
    const seeded = await seedCompletedRounds({
      store: target,
      jobId,
      rounds: 3,
      devicesPerRound: 4,
      salt,
    });
    const { chainJobId } = await registerJobOnChain({
      chain,
      job: seeded.job,
      pollingIntervalMs: 50,
    });
    for (let round = 1; round <= 3; round++) {
      await anchorRoundJob({ store: target, registry: client }, { jobId, round, chainJobId });
    }
    return { seeded, chainJobId };
  };
  const demo = await anchorAll(store, "demo-job", `${prefix}/demo`);
  const bundle = await exportBundle({
    store,
    jobId: "demo-job",
    chain: { chainId: anvil.chainId, registry, chainJobId: demo.chainJobId },
  });
  await writeFile(path.join(directory, "provenance.json"), JSON.stringify(bundle, null, 2));
  await writeFile(path.join(directory, "model.bin"), demo.seeded.models[3]!);
  const flipped = new Uint8Array(demo.seeded.models[3]!);
  flipped[7] = flipped[7]! ^ 0x80;
  await writeFile(path.join(directory, "flipped.bin"), flipped);
  const tampered = structuredClone(bundle);
  tampered.rounds[1]!.contributions.find((c) => c.deviceId === "sim-003")!.samples = 1;
  await writeFile(path.join(directory, "tampered.json"), JSON.stringify(tampered));

  const fetched = await anchorAll(coordinator.store, "fetched-job", `${prefix}/fetched`);
  chainJobIdOfFetched = fetched.chainJobId;
  fetchedJobId = "fetched-job";
  await writeFile(path.join(directory, "fetched-model.bin"), fetched.seeded.models[3]!);

  await writeChainDescriptor(directory, { rpcUrl: anvil.rpcUrl, registry, chainId: anvil.chainId });
  await anvil.stop();

  serve = spawn(TSX, [ENTRY, "chain", "serve", "--state", directory, "--json"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  served = await new Promise((resolve, reject) => {
    let stdout = "";
    let stderr = "";
    serve!.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    serve!.stdout!.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      try {
        resolve(JSON.parse(stdout));
      } catch {
        // not the whole document yet
      }
    });
    serve!.once("exit", (code) => reject(new Error(`chain serve exited (${code}): ${stderr}`)));
  });
});

afterAll(async () => {
  if (serve && serve.exitCode === null) {
    serve.kill("SIGINT");
    await new Promise((resolve) => serve!.once("exit", resolve));
  }
  await coordinator?.dispose();
  redis?.disconnect();
  await deletePrefix(prefix);
  if (directory) await rm(directory, { recursive: true, force: true });
});

const chainArgs = () => ["--rpc-url", served.rpcUrl, "--registry", served.registry];

describe("fedproof chain serve", () => {
  it("serves the saved chain at the rpcUrl written in chain.json", async () => {
    const descriptor = JSON.parse(await readFile(path.join(directory, "chain.json"), "utf8"));
    expect(served.rpcUrl).toBe(descriptor.rpcUrl);
    expect(served.registry).toBe(descriptor.registry);
  });

  it("refuses a directory without a saved chain", async () => {
    const empty = await mkdtemp(path.join(os.tmpdir(), "fedproof-chain-cli-empty-"));
    try {
      const result = await run(["chain", "serve", "--state", empty]);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/chain\.json does not exist/);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });
});

describe("fedproof verify", () => {
  it("exits 0 on the final model and lists the rounds and their contributor counts", async () => {
    const result = await run([
      "verify",
      "--model",
      path.join(directory, "model.bin"),
      "--bundle",
      path.join(directory, "provenance.json"),
      ...chainArgs(),
    ]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const rows = result.stdout.split("\n").filter((line) => /^[123] {2,}0x/.test(line));
    expect(rows).toHaveLength(3);
    for (const row of rows) expect(row.split(/\s{2,}/)[2]).toBe("4");
    expect(result.stdout).toMatch(/note {6}no proofs: /);
    expect(result.stdout).toMatch(/^OK: .* through 3 anchored rounds \(12 contributions\)/m);
  });

  it("exits 2 on one flipped byte, saying the model hash is not anchored", async () => {
    const result = await run([
      "verify",
      "--model",
      path.join(directory, "flipped.bin"),
      "--bundle",
      path.join(directory, "provenance.json"),
      ...chainArgs(),
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/model hash 0x[0-9a-f]{64} is not anchored in registry/);
  });

  it("exits 2 on a tampered bundle, naming the round and the device, also as JSON", async () => {
    const result = await run([
      "verify",
      "--model",
      path.join(directory, "model.bin"),
      "--bundle",
      path.join(directory, "tampered.json"),
      "--json",
      ...chainArgs(),
    ]);
    expect(result.code).toBe(2);
    const report = JSON.parse(result.stdout);
    expect(report.ok).toBe(false);
    expect(report.mismatches).toContainEqual({
      kind: "contribution",
      round: 2,
      deviceId: "sim-003",
      message: "round 2: contribution of device sim-003 does not match the anchored root",
    });
  });

  it("exits 1 when it cannot verify at all", async () => {
    const result = await run([
      "verify",
      "--model",
      path.join(directory, "model.bin"),
      ...chainArgs(),
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/pass --bundle FILE, or --coordinator HOST:PORT --job ID/);
  });
});

describe("fedproof job provenance", () => {
  it("exports a bundle from the coordinator that verify accepts", async () => {
    const out = path.join(directory, "exported.json");
    const exported = await run([
      "job",
      "provenance",
      fetchedJobId,
      "--out",
      out,
      "--coordinator",
      coordinator!.address,
      "--chain-job-id",
      chainJobIdOfFetched,
      ...chainArgs(),
    ]);
    expect(exported.stderr).toBe("");
    expect(exported.code).toBe(0);
    expect(exported.stdout).toMatch(/3 rounds, 12 contributions/);
    const verified = await run([
      "verify",
      "--model",
      path.join(directory, "fetched-model.bin"),
      "--bundle",
      out,
      ...chainArgs(),
    ]);
    expect(verified.code).toBe(0);
  });
});
