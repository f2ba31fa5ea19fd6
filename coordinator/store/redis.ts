import { Redis } from "ioredis";
import { redact } from "../../common/redact.js";
import { FedproofError } from "../errors.js";

/** The connection settings both ioredis and BullMQ accept. */
export interface RedisConnectionOptions {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db: number;
  tls?: Record<string, never>;
  maxRetriesPerRequest: null;
}

/** Connection options from a redis:// URL. BullMQ needs maxRetriesPerRequest: null on workers. */
export function redisOptionsFromUrl(url: string): RedisConnectionOptions {
  const parsed = new URL(url);
  if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:") {
    throw new FedproofError(
      `REDIS_URL must start with redis:// or rediss://, got ${parsed.protocol}`,
      {
        code: "INVALID_ARGUMENT",
      },
    );
  }
  return {
    host: parsed.hostname || "127.0.0.1",
    port: Number(parsed.port || 6379),
    username: parsed.username || undefined,
    password: parsed.password ? decodeURIComponent(parsed.password) : undefined,
    db: parsed.pathname.length > 1 ? Number(parsed.pathname.slice(1)) : 0,
    tls: parsed.protocol === "rediss:" ? {} : undefined,
    maxRetriesPerRequest: null,
  };
}

/** Connects and pings, so a wrong URL fails at start-up with a clear message, not later. */
export async function connectRedis(url: string): Promise<Redis> {
  const redis = new Redis({
    ...redisOptionsFromUrl(url),
    lazyConnect: true,
    maxRetriesPerRequest: 3,
  });
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    redis.disconnect();
    throw new FedproofError(`cannot reach Redis at ${redact(url)}`, {
      code: "UNAVAILABLE",
      cause: error,
      details: "start it (redis-server) or point REDIS_URL / --redis-url at a running one",
    });
  }
  return redis;
}

/** Deletes every key under `prefix` (jobs, rounds, BullMQ queues), e.g. after a demo or a test. */
export async function deleteKeysWithPrefix(url: string, prefix: string): Promise<void> {
  const redis = await connectRedis(url);
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
}
