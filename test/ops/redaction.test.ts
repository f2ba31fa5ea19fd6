import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../cli/demo/private-redis.js";
import { deleteKeysWithPrefix } from "../../coordinator/store/redis.js";
import { runCli, spawnCli } from "../harness/cli-process.js";
import { startTestRedis, type TestRedis } from "./ops-fixtures.js";

const REDIS_PASSWORD = "redis-pw-4f1c9e";
const RPC_KEY = "rpc-key-83be2a";
const RPC_QUERY_KEY = "rpc-query-key-09d7";
// Anvil's first development key: well known, so safe to put in a test.
const CHAIN_KEY = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const REGISTRY = "0x5FbDB2315678afecb367f032d93F642f64180aa3";

describe("secrets in a coordinator's output", () => {
  let redis: TestRedis;
  let dir: string;
  let keyFile: string;
  const prefix = `redaction-${process.pid}`;

  beforeAll(async () => {
    redis = await startTestRedis({ appendOnly: true, password: REDIS_PASSWORD });
    dir = await mkdtemp(path.join(os.tmpdir(), "fedproof-redaction-"));
    keyFile = path.join(dir, "chain.key");
    await writeFile(keyFile, `0x${CHAIN_KEY}\n`, { mode: 0o600 });
  });
  afterAll(async () => {
    if (redis) await deleteKeysWithPrefix(redis.url, prefix).catch(() => {});
    await redis?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const common = () => ["--port", "0", "--store", path.join(dir, "store"), "--prefix", prefix];
  const expectNoSecrets = (output: string, token?: string) => {
    for (const secret of [REDIS_PASSWORD, RPC_KEY, RPC_QUERY_KEY, CHAIN_KEY, token]) {
      if (secret) expect(output).not.toContain(secret);
    }
  };

  it("never prints the Redis password, the RPC key, the chain key or the generated token", async () => {
    const tokenFile = path.join(dir, "secrets", "coordinator-token");
    const coordinator = spawnCli(
      [
        "coordinator",
        ...common(),
        "--redis-url",
        redis.url,
        "--rpc-url",
        `https://rpc.example.invalid/v3/${RPC_KEY}?apikey=${RPC_QUERY_KEY}`,
        "--chain-id",
        "31337",
        "--registry",
        REGISTRY,
        "--key-file",
        keyFile,
        "--token-file",
        tokenFile,
        "--log-level",
        "trace",
        "--json",
      ],
      { FEDPROOF_TOKEN: "" },
    );
    await expect.poll(() => coordinator.stdout(), { timeout: 60_000 }).toMatch(/"address"/);
    coordinator.child.kill("SIGTERM");
    expect((await coordinator.exited).code).toBe(0);

    const token = (await readFile(tokenFile, "utf8")).trim();
    expect(token.length).toBeGreaterThan(20);
    expect((await stat(tokenFile)).mode & 0o777).toBe(0o600);
    const printed = JSON.parse(coordinator.stdout()) as Record<string, unknown>;
    expect(printed).toMatchObject({
      tokenFile,
      tokenFingerprint: expect.stringMatching(/^sha256:/),
    });
    const output = coordinator.stdout() + coordinator.stderr();
    expectNoSecrets(output, token);
    // What is logged keeps what an operator needs: where Redis and the chain are.
    expect(coordinator.stderr()).toContain("https://rpc.example.invalid/***?***");
    expect(coordinator.stderr()).toMatch(/"pid":\d+,"hostname":"[^"]+"/);
  });

  it("redacts the URLs quoted in start-up errors, and warns that --token shows in ps", async () => {
    const closed = await freePort();
    const unreachableRedis = await runCli([
      "coordinator",
      ...common(),
      "--redis-url",
      `redis://:${REDIS_PASSWORD}@127.0.0.1:${closed}`,
      "--token",
      "argv-token-5e2d",
      "--json",
    ]);
    expect(unreachableRedis.code).toBe(1);
    expect(unreachableRedis.stderr).toContain(
      `cannot reach Redis at redis://:***@127.0.0.1:${closed}`,
    );
    expect(unreachableRedis.stderr).toMatch(/--token is deprecated: its value shows in `ps`/);
    expectNoSecrets(unreachableRedis.stdout + unreachableRedis.stderr, "argv-token-5e2d");

    // No --chain-id: the coordinator asks the endpoint, which does not answer.
    const unreachableChain = await runCli(
      [
        "coordinator",
        ...common(),
        "--redis-url",
        redis.url,
        "--rpc-url",
        `http://127.0.0.1:${closed}/v3/${RPC_KEY}?apikey=${RPC_QUERY_KEY}`,
        "--registry",
        REGISTRY,
        "--key-file",
        keyFile,
        "--json",
      ],
      { FEDPROOF_TOKEN: "env-token-77ab" },
    );
    expect(unreachableChain.code).toBe(1);
    expect(unreachableChain.stderr).toContain(`http://127.0.0.1:${closed}/***?***`);
    expectNoSecrets(unreachableChain.stdout + unreachableChain.stderr, "env-token-77ab");
  });
});
