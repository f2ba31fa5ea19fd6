import type { ConnectionOptions } from "bullmq";
import { Cluster, Redis } from "ioredis";
import { redact } from "../../common/redact.js";
import { FedproofError } from "../errors.js";

/** A connection to one Redis server or to a Redis Cluster: the store accepts either. */
export type RedisClient = Redis | Cluster;

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

/** What a REDIS_URL names: one server, or (several hosts) the seed nodes of a cluster. */
export interface RedisTarget {
  nodes: { host: string; port: number }[];
  cluster: boolean;
  username?: string;
  password?: string;
  db: number;
  tls?: Record<string, never>;
}

/**
 * Parses `redis[s]://[user:password@]host[:port][,host[:port]…][/db]`. More than one host
 * names a Redis Cluster by its seed nodes (any reachable one will do: the client learns the
 * rest from CLUSTER SLOTS). A cluster has only database 0.
 */
export function parseRedisUrl(url: string): RedisTarget {
  const match = /^([a-z][a-z0-9+.-]*:)\/\/(?:([^@/?#]*)@)?([^/?#]*)([^?#]*)/i.exec(url);
  const protocol = match?.[1]?.toLowerCase();
  if (!match || (protocol !== "redis:" && protocol !== "rediss:")) {
    throw new FedproofError(`REDIS_URL must start with redis:// or rediss://, got ${redact(url)}`, {
      code: "INVALID_ARGUMENT",
    });
  }
  const userInfo = match[2] ? `${match[2]}@` : "";
  const hosts = (match[3] ?? "").split(",");
  // Each host is parsed as a URL of its own, so IPv6 brackets, ports and escapes follow the
  // WHATWG rules one server's URL always did.
  const parsed = hosts.map((host) => parseOne(`${protocol}//${userInfo}${host}${match[4]}`, url));
  const first = parsed[0]!;
  const db = first.pathname.length > 1 ? Number(first.pathname.slice(1)) : 0;
  const cluster = hosts.length > 1;
  if (cluster && db !== 0) {
    throw new FedproofError(`a Redis Cluster has only database 0, not ${db}: ${redact(url)}`, {
      code: "INVALID_ARGUMENT",
    });
  }
  return {
    nodes: parsed.map((u) => ({
      // An IPv6 host keeps its brackets in a URL, not in a socket address.
      host: u.hostname.replace(/^\[(.*)\]$/, "$1") || "127.0.0.1",
      port: Number(u.port || 6379),
    })),
    cluster,
    username: first.username ? decodeURIComponent(first.username) : undefined,
    password: first.password ? decodeURIComponent(first.password) : undefined,
    db,
    tls: protocol === "rediss:" ? {} : undefined,
  };
}

function parseOne(single: string, whole: string): URL {
  try {
    return new URL(single);
  } catch (error) {
    throw new FedproofError(`REDIS_URL is not a valid URL: ${redact(whole)}`, {
      code: "INVALID_ARGUMENT",
      cause: error,
    });
  }
}

/**
 * Connection options of one server from a redis:// URL. BullMQ needs maxRetriesPerRequest:
 * null on workers. A cluster URL has no such options: BullMQ gets `openBullConnection`'s.
 */
export function redisOptionsFromUrl(url: string): RedisConnectionOptions {
  const target = parseRedisUrl(url);
  if (target.cluster) {
    throw new FedproofError(`${redact(url)} names a Redis Cluster, not one server`, {
      code: "INVALID_ARGUMENT",
      details: "BullMQ connections to a cluster come from openBullConnection",
    });
  }
  const node = target.nodes[0]!;
  return {
    host: node.host,
    port: node.port,
    username: target.username,
    password: target.password,
    db: target.db,
    tls: target.tls,
    maxRetriesPerRequest: null,
  };
}

function createCluster(
  target: RedisTarget,
  maxRetriesPerRequest: number | null,
  enableAutoPipelining = false,
): Cluster {
  return new Cluster(target.nodes, {
    lazyConnect: true,
    enableAutoPipelining,
    redisOptions: {
      username: target.username,
      password: target.password,
      tls: target.tls,
      maxRetriesPerRequest,
    },
  });
}

/**
 * Connects and pings, so a wrong URL fails at start-up with a clear message, not later.
 *
 * A URL with several hosts, `redis://h1:7000,h2:7001,h3:7002`, connects an ioredis `Cluster`
 * seeded with those nodes; one host connects a plain `Redis`. The cluster form needs nothing
 * else (no flag): every component that takes a REDIS_URL (the store, BullMQ through
 * `openBullConnection`, the pub/sub subscribers, which `duplicate()` this client) follows it.
 */
export async function connectRedis(url: string): Promise<RedisClient> {
  const target = parseRedisUrl(url);
  // Commands issued in one tick leave in one write: with a thousand devices' handlers, steps
  // and verifications in flight, one write (and one syscall) per command was a large part of
  // the coordinator's time. Never on BullMQ's connections (openBullConnection), whose
  // blocking reads would hold up every command queued behind them.
  const redis: RedisClient = target.cluster
    ? createCluster(target, 3, true)
    : new Redis({
        ...redisOptionsFromUrl(url),
        lazyConnect: true,
        maxRetriesPerRequest: 3,
        enableAutoPipelining: true,
      });
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    // A cluster client goes on reporting its failed slot refresh; nobody listens any more.
    redis.on("error", () => {});
    redis.disconnect();
    throw new FedproofError(`cannot reach Redis at ${redact(url)}`, {
      code: "UNAVAILABLE",
      cause: error,
      details: "start it (redis-server) or point REDIS_URL / --redis-url at a running one",
    });
  }
  return redis;
}

/**
 * A second connection to the same server or cluster, with the same options: what a pub/sub
 * subscriber needs, since a subscribed connection can run no other command.
 */
export function duplicateClient(client: RedisClient): RedisClient {
  return client instanceof Cluster ? client.duplicate() : client.duplicate();
}

/** BullMQ's `connection` for a REDIS_URL, and how to let go of it. */
export interface BullConnection {
  connection: ConnectionOptions;
  /** Ends the shared cluster client once every queue and worker using it has closed. */
  close(): Promise<void>;
}

/**
 * For one server, plain options: BullMQ opens (and closes) its own connections from them.
 * BullMQ builds only plain `Redis` clients from options, so for a cluster it is handed one
 * `Cluster` instead, which its queues share and its workers and event listeners duplicate
 * for their blocking reads; the caller closes that one after them.
 */
export function openBullConnection(url: string): BullConnection {
  const target = parseRedisUrl(url);
  if (!target.cluster) return { connection: redisOptionsFromUrl(url), close: async () => {} };
  const cluster = createCluster(target, null);
  return {
    connection: cluster,
    async close() {
      cluster.disconnect();
    },
  };
}

/** Deletes every key under `prefix` (jobs, rounds, BullMQ queues), e.g. after a demo or a test. */
export async function deleteKeysWithPrefix(url: string, prefix: string): Promise<void> {
  const redis = await connectRedis(url);
  try {
    // A cluster node's SCAN sees only its own slots, so every master is scanned.
    const nodes = redis instanceof Cluster ? redis.nodes("master") : [redis];
    for (const node of nodes) {
      let cursor = "0";
      do {
        const [next, keys] = await node.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
        cursor = next;
        // One key per DEL: a cluster refuses a DEL whose keys span slots, even on one node.
        if (keys.length > 0) await Promise.all(keys.map((key) => node.del(key)));
      } while (cursor !== "0");
    }
  } finally {
    redis.disconnect();
  }
}
