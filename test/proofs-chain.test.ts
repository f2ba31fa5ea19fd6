/**
 * A job with proofs is registered on a real Anvil with the hash of its verification keys
 * (jobVerificationKeyHash over both circuits and the KZG SRS), a job without proofs with the zero hash.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Redis } from "ioredis";
import pino from "pino";
import { keccak256, sha256, toBytes, zeroHash } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TEST_CIRCUITS } from "../circuits/circuit-catalog.js";
import { buildContracts } from "../contracts/build.js";
import { verificationKeysOf } from "../coordinator/jobs/job-circuits.js";
import { JobService } from "../coordinator/jobs/job-service.js";
import type { RoundEngine } from "../coordinator/round/round-engine.js";
import { ArtifactStore } from "../coordinator/store/artifact-store.js";
import { JobStore } from "../coordinator/store/job-store.js";
import { jobVerificationKeyHash } from "../protocol/provenance/job-vkey-hash.js";
import { type StartAnvilReturnType, startAnvil } from "./harness/anvil.js";
import { deployTestRegistry } from "./harness/deploy-test-registry.js";
import { deletePrefix, TEST_REDIS_URL, uniquePrefix } from "./harness/redis.js";

await buildContracts();
const { createRegistryClient } = await import("../coordinator/chain/registry-client.js");

const schema = { featureShape: [8], min: 0, max: 1, classes: 2 };

describe("jobs with proofs on chain", () => {
  const prefix = uniquePrefix("proofs-chain");
  let anvil: StartAnvilReturnType;
  let redis: Redis;
  let storeDir: string;
  let jobs: JobService;
  let registry: ReturnType<typeof createRegistryClient>;

  beforeAll(async () => {
    anvil = await startAnvil({});
    const deployed = await deployTestRegistry(anvil);
    const { chain } = deployed;
    registry = createRegistryClient({
      rpcUrl: anvil.rpcUrl,
      chainId: anvil.chainId,
      registry: deployed.registry,
    });
    redis = new Redis(TEST_REDIS_URL);
    storeDir = await mkdtemp(path.join(os.tmpdir(), "fedproof-proofs-chain-"));
    // The round engine only hears that a job exists; this test never runs a round.
    const engine = { onJobCreated: async () => {} } as unknown as RoundEngine;
    jobs = new JobService({
      store: new JobStore({ redis, prefix }),
      artifacts: new ArtifactStore({ root: storeDir }),
      engine,
      chain,
      proofs: {
        plan: () => ({
          updateNorm: TEST_CIRCUITS.updateNorm,
          dataValidity: TEST_CIRCUITS.dataValidity,
        }),
      },
      logger: pino({ level: "silent" }),
    });
  }, 300_000);

  afterAll(async () => {
    await anvil?.stop();
    redis?.disconnect();
    await deletePrefix(prefix);
    if (storeDir) await rm(storeDir, { recursive: true, force: true });
  });

  it("pins the hash of both verification keys and the KZG SRS, and zero for a job without proofs", async () => {
    const proven = await jobs.createJob({
      model: "logreg",
      schema,
      proofs: true,
      dataSpotChecks: TEST_CIRCUITS.dataValidity.samples,
    });
    const circuits = await jobs.jobCircuits(proven.jobId);
    expect(circuits).toBeDefined();
    // The SRS the worker checks KZG openings against is the one stored and served, and pinned.
    const srsBytes = new Uint8Array(await readFile(circuits!.srs.path));
    expect(circuits!.srs.hash).toBe(sha256(srsBytes));
    expect(circuits!.srs.size).toBe(TEST_CIRCUITS.updateNorm.n + 2);
    const expected = jobVerificationKeyHash(verificationKeysOf(circuits!), sha256(srsBytes));
    expect(circuits!.vkeyHash).toBe(expected);
    expect(expected).not.toBe(zeroHash);
    // Without the SRS the keys alone pin something else: a bundle cannot drop or swap it.
    expect(jobVerificationKeyHash(verificationKeysOf(circuits!))).not.toBe(expected);
    expect((await registry.getJob(BigInt(proven.chainJobId)))?.vkeyHash).toBe(expected);
    // Its circuits' Groth16 verifiers are deployed and registered, so it can be disputed on chain.
    for (const circuit of [circuits!.updateNorm, circuits!.dataValidity]) {
      const verifier = await registry.verifierOf(
        BigInt(proven.chainJobId),
        keccak256(toBytes(circuit.id)),
      );
      expect(verifier).toMatch(/^0x[0-9a-fA-F]{40}$/);
    }

    const plain = await jobs.createJob({ model: "logreg", schema });
    expect(await jobs.jobCircuits(plain.jobId)).toBeUndefined();
    expect((await registry.getJob(BigInt(plain.chainJobId)))?.vkeyHash).toBe(zeroHash);
    expect(await registry.getVerifierRegisteredEvents({ jobId: BigInt(plain.chainJobId) })).toEqual(
      [],
    );
  }, 120_000);
});
