import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { Redis } from "ioredis";

const run = promisify(execFile);

/** A throwaway Redis Cluster of three masters on loopback, for tests that need a real one. */
export interface TestRedisCluster {
  /** `redis://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3`: the form connectRedis reads as a cluster. */
  url: string;
  ports: number[];
  /** Stops every node by its pid and removes their files. */
  stop(): Promise<void>;
}

const MASTERS = 3;
/** Redis Cluster's node-to-node bus listens here, above each client port. */
const BUS_OFFSET = 10_000;

/**
 * Starts three `redis-server --cluster-enabled yes` nodes on free loopback ports, joins them
 * with `redis-cli --cluster create` (no replicas: every node is a master owning a third of
 * the slots), and waits until every node reports `cluster_state:ok`.
 */
export async function startRedisCluster(): Promise<TestRedisCluster> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "fedproof-redis-cluster-"));
  const ports = await freeClusterPorts(MASTERS);
  const nodes: ChildProcess[] = [];
  const stop = async () => {
    await Promise.all(nodes.map(stopNode));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    for (const port of ports) {
      const node = spawn(
        "redis-server",
        [
          "--port",
          String(port),
          "--cluster-enabled",
          "yes",
          "--cluster-config-file",
          `nodes-${port}.conf`,
          "--dir",
          dir,
          "--bind",
          "127.0.0.1",
          "--save",
          "",
          "--appendonly",
          "no",
        ],
        { stdio: "ignore" },
      );
      nodes.push(node);
    }
    await Promise.all(ports.map((port) => waitFor(() => ping(port), `node ${port} to answer`)));
    await run("redis-cli", [
      "--cluster",
      "create",
      ...ports.map((port) => `127.0.0.1:${port}`),
      "--cluster-replicas",
      "0",
      "--cluster-yes",
    ]);
    await Promise.all(
      ports.map((port) => waitFor(() => clusterOk(port), `node ${port} to see cluster_state:ok`)),
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    url: `redis://${ports.map((port) => `127.0.0.1:${port}`).join(",")}`,
    ports,
    stop,
  };
}

/** Ports whose cluster-bus port (+10000) is free too, on 127.0.0.1. */
async function freeClusterPorts(count: number): Promise<number[]> {
  const ports: number[] = [];
  for (let tries = 0; ports.length < count && tries < 200; tries++) {
    const port = 20_000 + Math.floor(Math.random() * 30_000);
    if (ports.includes(port) || ports.includes(port + BUS_OFFSET)) continue;
    if ((await isFree(port)) && (await isFree(port + BUS_OFFSET))) ports.push(port);
  }
  if (ports.length < count) throw new Error("no free loopback ports for a Redis Cluster");
  return ports;
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

async function withNode<T>(port: number, work: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis({
    host: "127.0.0.1",
    port,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  redis.on("error", () => {});
  try {
    await redis.connect();
    return await work(redis);
  } finally {
    redis.disconnect();
  }
}

async function ping(port: number): Promise<boolean> {
  return withNode(port, async (redis) => (await redis.ping()) === "PONG").catch(() => false);
}

async function clusterOk(port: number): Promise<boolean> {
  return withNode(port, async (redis) =>
    /^cluster_state:ok\s*$/m.test(String(await redis.call("CLUSTER", "INFO"))),
  ).catch(() => false);
}

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function stopNode(node: ChildProcess): Promise<void> {
  if (node.exitCode !== null || node.signalCode !== null || node.pid === undefined) {
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    const timer = setTimeout(() => node.kill("SIGKILL"), 5_000);
    node.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    node.kill("SIGTERM");
  });
}
