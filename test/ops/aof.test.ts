import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCoordinator } from "../../coordinator/coordinator.js";
import { JobStore } from "../../coordinator/store/job-store.js";
import { connectRedis } from "../../coordinator/store/redis.js";
import { RedisNotPersistentError } from "../../coordinator/store/require-persistence.js";
import { runCli, spawnCli } from "../harness/cli-process.js";
import { testLogger } from "../harness/coordinator.js";
import { startTestRedis, type TestRedis } from "./ops-fixtures.js";

// Job, round and device state lives only in Redis: a coordinator must not run on one that
// forgets it on a restart, unless told the state is throwaway.
describe("the coordinator's Redis durability check", () => {
  let volatile: TestRedis;
  let durable: TestRedis;
  let storeDir: string;

  beforeAll(async () => {
    [volatile, durable] = await Promise.all([
      startTestRedis({ appendOnly: false }),
      startTestRedis({ appendOnly: true }),
    ]);
    storeDir = await mkdtemp(path.join(os.tmpdir(), "fedproof-aof-"));
  });
  afterAll(async () => {
    await Promise.all([volatile?.stop(), durable?.stop()]);
    await rm(storeDir, { recursive: true, force: true });
  });

  const coordinatorArgs = (redisUrl: string) => [
    "coordinator",
    "--port",
    "0",
    "--redis-url",
    redisUrl,
    "--prefix",
    `aof-${randomBytes(4).toString("hex")}`,
    "--store",
    storeDir,
    "--json",
  ];
  const env = { FEDPROOF_TOKEN: randomBytes(16).toString("hex") };

  it("reads the append-only setting through the store", async () => {
    for (const [redis, appendOnly] of [
      [volatile, false],
      [durable, true],
    ] as const) {
      const connection = await connectRedis(redis.url);
      try {
        const persistence = await new JobStore({ redis: connection, prefix: "aof:" }).persistence();
        expect(persistence).toMatchObject({ appendOnly, source: "CONFIG GET" });
      } finally {
        connection.disconnect();
      }
    }
  });

  it("refuses a Redis without the append-only file, naming the fix", async () => {
    const refused = await runCli(coordinatorArgs(volatile.url), env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/does not persist writes \(append-only file off/);
    expect(refused.stderr).toContain("redis-server --appendonly yes");
    expect(refused.stderr).toContain("--ephemeral");
    expect(JSON.parse(refused.stdout).error.name).toBe("RedisNotPersistentError");

    await expect(
      startCoordinator({
        redisUrl: volatile.url,
        prefix: "aof-lib:",
        storeDir,
        logger: testLogger,
      }),
    ).rejects.toBeInstanceOf(RedisNotPersistentError);
  });

  it("starts on the same Redis with --ephemeral, and on an append-only Redis without it", async () => {
    for (const args of [
      [...coordinatorArgs(volatile.url), "--ephemeral"],
      coordinatorArgs(durable.url),
    ]) {
      const coordinator = spawnCli(args, env);
      try {
        await coordinator.waitForStderr(/coordinator listening/);
        // The signal handlers are in place before the coordinator starts, so SIGTERM right after
        // the JSON document takes the bounded shutdown.
        await expect.poll(() => coordinator.stdout(), { timeout: 60_000 }).toMatch(/"address"/);
        expect(coordinator.stderr()).not.toMatch(/does not persist/);
      } finally {
        coordinator.child.kill("SIGTERM");
      }
      const exit = await coordinator.exited;
      expect(exit, coordinator.stderr()).toEqual({ code: 0, signal: null });
    }
  });
});
