/**
 * The anchor worker against a real Anvil and a real Redis: one transaction per round, a rerun
 * sends nothing, two workers sharing the key never collide on a nonce, an anchor enqueued
 * while the chain is down completes once the chain is back (same port, same persisted state),
 * and a retry after an attempt whose transaction was mined, dropped or still pending when it
 * ended anchors the round exactly once.
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { type Job, QueueEvents, type Worker } from "bullmq";
import { Redis } from "ioredis";
import { createPublicClient, createTestClient, type Hex, http, keccak256, toHex } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildContracts } from "../contracts/build.js";
import type { ChainConfig } from "../coordinator/chain/chain-config.js";
import { JobStore } from "../coordinator/store/job-store.js";
import { redisOptionsFromUrl } from "../coordinator/store/redis.js";
import { bullPrefix } from "../coordinator/workers/queues.js";
import { type StartAnvilReturnType, startAnvil } from "./harness/anvil.js";
import { seedCompletedRounds } from "./harness/chain-fixture.js";
import { testLogger } from "./harness/coordinator.js";
import { deployTestRegistry } from "./harness/deploy-test-registry.js";
import { deletePrefix, TEST_REDIS_URL, uniquePrefix } from "./harness/redis.js";

await buildContracts();
const { createRegistryClient } = await import("../coordinator/chain/registry-client.js");
const { anchorRoundJob, isPermanentAnchorError, startAnchorWorker, AnchorPreconditionError } =
  await import("../coordinator/chain/anchor-worker.js");
const { createAnchorQueue, enqueueAnchor, anchorJobId } = await import(
  "../coordinator/chain/anchor-queue.js"
);
const { registerJobOnChain } = await import("../coordinator/chain/register-job.js");
const { createRedisSendLock } = await import("../coordinator/chain/send-lock.js");
const { buildRoundTree } = await import("../protocol/provenance/merkle.js");
const { roundLeaves } = await import("../protocol/provenance/round-leaves.js");
const { storedRoundLeafInputs } = await import("../coordinator/chain/stored-round-leaves.js");
const {
  AnchorNotYetVisibleError,
  ChainUnavailableError,
  RoundAlreadyAnchoredError,
  TransactionDroppedError,
} = await import("../coordinator/chain/registry-errors.js");

let anvil: StartAnvilReturnType;
let stateDir: string;
let chain: ChainConfig;
let redis: Redis;
let store: JobStore;
const prefix = uniquePrefix("anchor");
const connection = redisOptionsFromUrl(TEST_REDIS_URL);
let jobCounter = 0;

function registryClient(lockRedis: Redis = redis) {
  return createRegistryClient({
    rpcUrl: chain.rpcUrl,
    chainId: chain.chainId,
    registry: chain.registry,
    account: chain.privateKey,
    pollingIntervalMs: 50,
    sendLock: createRedisSendLock({ redis: lockRedis, prefix, chainId: chain.chainId }),
  });
}

function publicClient() {
  return createPublicClient({ transport: http(anvil.rpcUrl) });
}

async function nonce(): Promise<number> {
  return publicClient().getTransactionCount({ address: anvil.accounts[0]!.address });
}

function testClient() {
  return createTestClient({ mode: "anvil", transport: http(anvil.rpcUrl) });
}

/** Transactions of the coordinator's key that the node holds in its pool, not yet mined. */
async function pendingSends(): Promise<number> {
  const address = anvil.accounts[0]!.address;
  const client = publicClient();
  const [pending, latest] = await Promise.all([
    client.getTransactionCount({ address, blockTag: "pending" }),
    client.getTransactionCount({ address }),
  ]);
  return pending - latest;
}

async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Stops Anvil (it dumps its state) and starts it again from that state on the same port. */
async function restartAnvil(): Promise<void> {
  const { port } = anvil;
  await anvil.stop();
  anvil = await startAnvil({ port, statePath: path.join(stateDir, "anvil-state.json") });
}

/** A job with `rounds` completed rounds in the store, registered on chain. */
async function seededJob(rounds = 1, devicesPerRound = 4) {
  jobCounter += 1;
  const jobId = `job-${jobCounter}`;
  const seeded = await seedCompletedRounds({
    store,
    jobId,
    rounds,
    devicesPerRound,
    salt: `${prefix}/${jobId}`,
  });
  const { chainJobId } = await registerJobOnChain({
    chain,
    job: seeded.job,
    pollingIntervalMs: 50,
  });
  return { ...seeded, jobId, chainJobId };
}

beforeAll(async () => {
  stateDir = await mkdtemp(path.join(os.tmpdir(), "fedproof-anchor-"));
  anvil = await startAnvil({ statePath: path.join(stateDir, "anvil-state.json") });
  ({ chain } = await deployTestRegistry(anvil));
  redis = new Redis(TEST_REDIS_URL);
  store = new JobStore({ redis, prefix });
});

afterAll(async () => {
  await anvil?.stop();
  redis?.disconnect();
  await deletePrefix(prefix);
  if (stateDir) await rm(stateDir, { recursive: true, force: true });
});

describe("anchorRoundJob", () => {
  it("anchors a completed round in one transaction and records it only with a receipt", async () => {
    const { jobId, chainJobId, modelHashes } = await seededJob(1, 5);
    const before = await nonce();
    const result = await anchorRoundJob(
      { store, registry: registryClient() },
      { jobId, round: 1, chainJobId },
    );

    expect(await nonce()).toBe(before + 1);
    expect(result.alreadyAnchored).toBe(false);
    expect(result.contributors).toBe(5);
    // Devices 0 and 3 have no payout address (one derived account each), 1 and 4 share one,
    // 2 has its own: four credit leaves for five contributions.
    const leaves = roundLeaves(await storedRoundLeafInputs(store, jobId, 1));
    expect(leaves.credits).toHaveLength(4);
    expect(result.totalCredits).toBe(String(100 + 101 + 102 + 103 + 104));
    const tree = buildRoundTree(leaves);
    expect(result.contributionsRoot).toBe(tree.contributionsRoot);
    expect(result.creditsRoot).toBe(tree.creditsRoot);

    const receipt = await publicClient().getTransactionReceipt({ hash: result.txHash });
    expect(receipt.status).toBe("success");
    expect(receipt.blockNumber).toBe(BigInt(result.blockNumber));

    const onChain = await registryClient().getRound(BigInt(chainJobId), 1);
    expect(onChain?.modelHash).toBe(`0x${modelHashes[1]}`);
    expect(onChain?.parentHash).toBe(`0x${modelHashes[0]}`);
    expect(onChain?.roundRoot).toBe(tree.roundRoot);
    expect(onChain?.contributors).toBe(5);

    const round = await store.getRound(jobId, 1);
    expect(round.anchorTx).toBe(result.txHash);
    expect(round.contributionsRoot).toBe(tree.contributionsRoot);
  });

  it("does nothing when run again for an anchored round, and returns the existing anchor", async () => {
    const { jobId, chainJobId } = await seededJob(1, 3);
    const first = await anchorRoundJob(
      { store, registry: registryClient() },
      { jobId, round: 1, chainJobId },
    );
    const before = await nonce();
    const again = await anchorRoundJob(
      { store, registry: registryClient() },
      { jobId, round: 1, chainJobId },
    );
    expect(await nonce()).toBe(before);
    expect(again.alreadyAnchored).toBe(true);
    expect(again.txHash).toBe(first.txHash);
    expect(again.roundRoot).toBe(first.roundRoot);
  });

  it("refuses, for good, a round that is not completed and a job the registry does not know", async () => {
    const { jobId, chainJobId } = await seededJob(1, 2);
    await redis.hset(store.keys.round(jobId, 1), "state", "AGGREGATING");
    const notCompleted = anchorRoundJob(
      { store, registry: registryClient() },
      { jobId, round: 1, chainJobId },
    );
    await expect(notCompleted).rejects.toBeInstanceOf(AnchorPreconditionError);
    await expect(notCompleted.catch(isPermanentAnchorError)).resolves.toBe(true);

    const other = await seededJob(1, 2);
    const unknownJob = anchorRoundJob(
      { store, registry: registryClient() },
      { jobId: other.jobId, round: 1, chainJobId: "999999" },
    );
    await expect(unknownJob).rejects.toThrow(/job 999999 is not registered/);
    await expect(unknownJob.catch(isPermanentAnchorError)).resolves.toBe(true);
  });

  it("keeps round 2 waiting (retryable) until round 1 is anchored", async () => {
    const { jobId, chainJobId } = await seededJob(2, 2);
    const early = anchorRoundJob(
      { store, registry: registryClient() },
      { jobId, round: 2, chainJobId },
    );
    await expect(early).rejects.toThrow(/cannot be anchored before round 1/);
    await expect(early.catch(isPermanentAnchorError)).resolves.toBe(false);
    await anchorRoundJob({ store, registry: registryClient() }, { jobId, round: 1, chainJobId });
    const late = await anchorRoundJob(
      { store, registry: registryClient() },
      { jobId, round: 2, chainJobId },
    );
    expect(late.alreadyAnchored).toBe(false);
  });
});

describe("several workers sharing one key", () => {
  it("anchors a round once when two workers race on it", async () => {
    const { jobId, chainJobId } = await seededJob(1, 3);
    const otherRedis = new Redis(TEST_REDIS_URL);
    try {
      const before = await nonce();
      const [a, b] = await Promise.all([
        anchorRoundJob({ store, registry: registryClient(redis) }, { jobId, round: 1, chainJobId }),
        anchorRoundJob(
          {
            store: new JobStore({ redis: otherRedis, prefix }),
            registry: registryClient(otherRedis),
          },
          { jobId, round: 1, chainJobId },
        ),
      ]);
      expect(a.txHash).toBe(b.txHash);
      expect([a.alreadyAnchored, b.alreadyAnchored].sort()).toEqual([false, true]);
      expect(await nonce()).toBe(before + 1);
      const events = await registryClient().getRoundAnchoredEvents({
        jobId: BigInt(chainJobId),
        round: 1,
      });
      expect(events).toHaveLength(1);
    } finally {
      otherRedis.disconnect();
    }
  });

  it("sends rounds of several jobs at once from two BullMQ workers without a nonce error", async () => {
    const jobs = [];
    for (let index = 0; index < 4; index++) jobs.push(await seededJob(1, 2));
    const workers = [0, 1].map(() =>
      startAnchorWorker({
        connection,
        prefix,
        store,
        chain,
        logger: testLogger,
        concurrency: 4,
        pollingIntervalMs: 50,
      }),
    );
    const failures: string[] = [];
    for (const worker of workers)
      worker.on("failed", (_job, error) => failures.push(error.message));
    const queue = createAnchorQueue({ connection, prefix });
    const events = new QueueEvents("anchor", { connection, prefix: bullPrefix(prefix) });
    try {
      await events.waitUntilReady();
      const before = await nonce();
      for (const { jobId, chainJobId } of jobs) {
        await enqueueAnchor(queue, { jobId, round: 1, chainJobId });
      }
      const results = await Promise.all(
        jobs.map(async ({ jobId }) => {
          const job = (await queue.getJob(anchorJobId(jobId, 1))) as Job;
          return job.waitUntilFinished(events, 60_000);
        }),
      );
      expect(failures).toEqual([]);
      expect(new Set(results.map((result: { txHash: Hex }) => result.txHash)).size).toBe(4);
      expect(await nonce()).toBe(before + 4);
    } finally {
      await Promise.all(workers.map((worker: Worker) => worker.close()));
      await events.close();
      await queue.close();
    }
  });
});

describe("a chain that goes away", () => {
  it("retries the anchor while the RPC endpoint is down and completes once it is back", async () => {
    const { jobId, chainJobId } = await seededJob(1, 3);
    const worker = startAnchorWorker({
      connection,
      prefix,
      store,
      chain,
      logger: testLogger,
      pollingIntervalMs: 50,
      retryDelayMs: 100,
      maxRetryDelayMs: 400,
    });
    const failures: string[] = [];
    worker.on("failed", (_job, error) => failures.push(error.message));
    const queue = createAnchorQueue({ connection, prefix });
    const events = new QueueEvents("anchor", { connection, prefix: bullPrefix(prefix) });
    try {
      await events.waitUntilReady();
      const { port } = anvil;
      await anvil.stop();
      await enqueueAnchor(queue, { jobId, round: 1, chainJobId });

      const deadline = Date.now() + 60_000;
      while (failures.length < 2) {
        if (Date.now() > deadline)
          throw new Error("the anchor job was not attempted while Anvil was down");
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const job = (await queue.getJob(anchorJobId(jobId, 1))) as Job;
      expect(await job.getState()).not.toBe("completed");
      expect(await job.getState()).not.toBe("failed");
      expect((await store.getRound(jobId, 1)).anchorTx).toBe("");
      expect(failures[0]).toMatch(/did not answer/);

      anvil = await startAnvil({ port, statePath: path.join(stateDir, "anvil-state.json") });
      const result = (await job.waitUntilFinished(events, 60_000)) as { txHash: Hex };
      const receipt = await publicClient().getTransactionReceipt({ hash: result.txHash });
      expect(receipt.status).toBe("success");
      expect((await store.getRound(jobId, 1)).anchorTx).toBe(result.txHash);
    } finally {
      await worker.close();
      await events.close();
      await queue.close();
    }
  });
});

// What a chain that stops mid-anchor leaves behind, each case from the retry's side: the attempt
// that sent the transaction ended (chain gone, worker dead) without recording the anchor.
describe("a retry after an anchor attempt that ended mid-send", () => {
  const run = (jobId: string, chainJobId: string) =>
    anchorRoundJob({ store, registry: registryClient() }, { jobId, round: 1, chainJobId });

  it("sends again a transaction the node dropped from its pool, and anchors once", async () => {
    const { jobId, chainJobId } = await seededJob(1, 3);
    const before = await nonce();
    await testClient().setAutomine(false);
    try {
      const attempt = run(jobId, chainJobId);
      await until(async () => (await pendingSends()) === 1, "the anchor in the pool");
      const pool = await testClient().getTxpoolContent();
      const [sent] = Object.values(pool.pending).flatMap((bySender) => Object.values(bySender));
      await testClient().dropTransaction({ hash: sent!.hash });
      const dropped = await attempt.catch((error: unknown) => error);
      expect(dropped).toBeInstanceOf(TransactionDroppedError);
      expect(isPermanentAnchorError(dropped)).toBe(false);
      expect(await registryClient().getRound(BigInt(chainJobId), 1)).toBeNull();
      expect((await store.getRound(jobId, 1)).anchorTx).toBe("");
    } finally {
      await testClient().setAutomine(true);
    }
    const retried = await run(jobId, chainJobId);
    expect(retried.alreadyAnchored).toBe(false);
    // The dropped transaction never used its nonce: the retry's took it.
    expect(await nonce()).toBe(before + 1);
    const events = await registryClient().getRoundAnchoredEvents({
      jobId: BigInt(chainJobId),
      round: 1,
    });
    expect(events.map((event) => event.txHash)).toEqual([retried.txHash]);
  });

  it("anchors once when the chain stopped with the anchor in its pool and came back without it", async () => {
    const { jobId, chainJobId } = await seededJob(1, 3);
    const before = await nonce();
    await testClient().setAutomine(false);
    const attempt = run(jobId, chainJobId);
    await until(async () => (await pendingSends()) === 1, "the anchor in the pool");
    // The dump keeps mined blocks only, and the restarted node mines on every transaction again.
    await restartAnvil();
    // Which one depends on whether a poll fell while the node was down.
    const failed = await attempt.catch((error: unknown) => error);
    expect([ChainUnavailableError, TransactionDroppedError]).toContain(
      (failed as object).constructor,
    );
    expect(isPermanentAnchorError(failed)).toBe(false);
    expect(await nonce()).toBe(before);

    const retried = await run(jobId, chainJobId);
    expect(retried.alreadyAnchored).toBe(false);
    expect(await nonce()).toBe(before + 1);
    const events = await registryClient().getRoundAnchoredEvents({
      jobId: BigInt(chainJobId),
      round: 1,
    });
    expect(events.map((event) => event.txHash)).toEqual([retried.txHash]);
    expect((await store.getRound(jobId, 1)).anchorTx).toBe(retried.txHash);
  });

  it("sends nothing when the anchor was mined before the chain stopped, and records that anchor", async () => {
    const { jobId, chainJobId, modelHashes } = await seededJob(1, 3);
    // The crashed attempt: its transaction mined, its receipt never read, the round unrecorded.
    const tree = buildRoundTree(roundLeaves(await storedRoundLeafInputs(store, jobId, 1)));
    const mined = await registryClient().anchorRound({
      jobId: BigInt(chainJobId),
      round: 1,
      modelHash: `0x${modelHashes[1]}`,
      parentHash: `0x${modelHashes[0]}`,
      contributionsRoot: tree.contributionsRoot,
      creditsRoot: tree.creditsRoot,
      contributors: tree.contributors,
      totalCredits: tree.totalCredits,
    });
    await restartAnvil();
    const before = await nonce();

    const retried = await run(jobId, chainJobId);
    expect(retried.alreadyAnchored).toBe(true);
    expect(retried.txHash).toBe(mined.txHash);
    expect(await nonce()).toBe(before);
    expect((await store.getRound(jobId, 1)).anchorTx).toBe(mined.txHash);
  });

  it("retries, sending nothing, while an earlier attempt's anchor is still pending", async () => {
    const { jobId, chainJobId } = await seededJob(1, 3);
    const before = await nonce();
    await testClient().setAutomine(false);
    let first: Awaited<ReturnType<typeof run>>;
    try {
      const firstAttempt = run(jobId, chainJobId);
      await until(async () => (await pendingSends()) === 1, "the first anchor in the pool");
      // The retry finds the round free in the latest block, but the node fills the transaction
      // against its pending state, where the round is taken: the retry must neither send nor
      // fail for good (this was an UnrecoverableError, and the round was never marked anchored).
      const early = await run(jobId, chainJobId).catch((error: unknown) => error);
      expect(early).toBeInstanceOf(AnchorNotYetVisibleError);
      expect(isPermanentAnchorError(early)).toBe(false);
      expect(await pendingSends()).toBe(1);
      await testClient().mine({ blocks: 1 });
      first = await firstAttempt;
    } finally {
      await testClient().setAutomine(true);
    }
    const retried = await run(jobId, chainJobId);
    expect(first.alreadyAnchored).toBe(false);
    expect(retried.alreadyAnchored).toBe(true);
    expect(retried.txHash).toBe(first.txHash);
    expect(await nonce()).toBe(before + 1);
    const events = await registryClient().getRoundAnchoredEvents({
      jobId: BigInt(chainJobId),
      round: 1,
    });
    expect(events.map((event) => event.txHash)).toEqual([first.txHash]);
  });

  it("fails for good, naming both, when the round holds a different anchor", async () => {
    const { jobId, chainJobId, modelHashes } = await seededJob(1, 2);
    const tree = buildRoundTree(roundLeaves(await storedRoundLeafInputs(store, jobId, 1)));
    const otherModel = keccak256(toHex(`${jobId} another model`));
    await registryClient().anchorRound({
      jobId: BigInt(chainJobId),
      round: 1,
      modelHash: otherModel,
      parentHash: `0x${modelHashes[0]}`,
      contributionsRoot: tree.contributionsRoot,
      creditsRoot: tree.creditsRoot,
      contributors: tree.contributors,
      totalCredits: tree.totalCredits,
    });
    const before = await nonce();
    const refused = await run(jobId, chainJobId).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(RoundAlreadyAnchoredError);
    expect(isPermanentAnchorError(refused)).toBe(true);
    expect((refused as Error).message).toContain(otherModel);
    expect((refused as Error).message).toContain(`0x${modelHashes[1]}`);
    expect(await nonce()).toBe(before);
    expect((await store.getRound(jobId, 1)).anchorTx).toBe("");
  });
});
