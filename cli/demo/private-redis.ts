import { spawn, spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { Redis } from "ioredis";
import { FedproofError } from "../../common/errors.js";

export class RedisNotInstalledError extends FedproofError {
  override name = "RedisNotInstalledError";
  constructor() {
    super("redis-server is not installed and REDIS_URL is not set", {
      code: "FAILED_PRECONDITION",
      details:
        "install it with `apt-get install redis-server` (Debian/Ubuntu), or point REDIS_URL at a running Redis",
    });
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface PrivateRedis {
  url: string;
  stop(): Promise<void>;
}

/**
 * A throw-away redis-server for the demo: loopback only, nothing persisted, its own port,
 * stopped (and its directory removed) when the demo ends.
 */
export async function startPrivateRedis(): Promise<PrivateRedis> {
  if (spawnSync("redis-server", ["--version"], { stdio: "ignore" }).error)
    throw new RedisNotInstalledError();
  const port = await freePort();
  const dir = await mkdtemp(path.join(os.tmpdir(), "fedproof-redis-"));
  const child = spawn(
    "redis-server",
    [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      "--dir",
      dir,
      "--logfile",
      "",
    ],
    { stdio: "ignore" },
  );
  const url = `redis://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null) {
      child.kill("SIGTERM");
      await new Promise((resolve) => child.once("exit", resolve));
    }
    await rm(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 10_000;
  for (;;) {
    const probe = new Redis(url, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    probe.on("error", () => {}); // refused until the server listens; the loop retries
    try {
      await probe.connect();
      await probe.ping();
      probe.disconnect();
      return { url, stop };
    } catch {
      probe.disconnect();
      if (child.exitCode !== null || Date.now() > deadline) {
        await stop();
        throw new FedproofError(`the private redis-server on port ${port} did not start`, {
          code: "UNAVAILABLE",
        });
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
