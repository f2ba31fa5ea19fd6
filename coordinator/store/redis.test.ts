import { Cluster } from "ioredis";
import { describe, expect, it } from "vitest";
import { redact } from "../../common/redact.js";
import { openBullConnection, parseRedisUrl, redisOptionsFromUrl } from "./redis.js";

describe("REDIS_URL", () => {
  it("names one server with one host, as it always did", () => {
    expect(parseRedisUrl("rediss://user:p%40ss@cache.internal:6380/2")).toEqual({
      nodes: [{ host: "cache.internal", port: 6380 }],
      cluster: false,
      username: "user",
      password: "p@ss",
      db: 2,
      tls: {},
    });
    expect(redisOptionsFromUrl("redis://127.0.0.1")).toMatchObject({
      host: "127.0.0.1",
      port: 6379,
      db: 0,
      maxRetriesPerRequest: null,
    });
  });

  it("names a cluster's seed nodes with several hosts, sharing the credentials", () => {
    expect(parseRedisUrl("redis://:pw@h1:7000,h2:7001,[::1]:7002")).toEqual({
      nodes: [
        { host: "h1", port: 7000 },
        { host: "h2", port: 7001 },
        { host: "::1", port: 7002 },
      ],
      cluster: true,
      username: undefined,
      password: "pw",
      db: 0,
      tls: undefined,
    });
  });

  it("refuses what a cluster cannot be or what is no Redis URL", () => {
    expect(() => parseRedisUrl("redis://h1:7000,h2:7001/3")).toThrow(/only database 0, not 3/);
    expect(() => parseRedisUrl("http://h1:7000")).toThrow(/must start with redis:\/\//);
    expect(() => redisOptionsFromUrl("redis://h1:7000,h2:7001")).toThrow(/names a Redis Cluster/);
  });

  it("hides the password of a cluster URL in messages but keeps every host", () => {
    expect(redact("redis://:secret@h1:7000,h2:7001/0")).toBe("redis://:***@h1:7000,h2:7001/0");
    expect(redact("redis://h1:7000,h2:7001")).not.toMatch(/\*\*\*@/);
  });

  it("gives BullMQ options for one server and a shared Cluster for a cluster", async () => {
    const single = openBullConnection("redis://127.0.0.1:6379");
    expect(single.connection).toMatchObject({ host: "127.0.0.1", maxRetriesPerRequest: null });
    await single.close();
    const cluster = openBullConnection("redis://127.0.0.1:7000,127.0.0.1:7001");
    expect(cluster.connection).toBeInstanceOf(Cluster);
    // Workers' blocking reads need it; BullMQ refuses a client without it.
    expect((cluster.connection as Cluster).options.redisOptions?.maxRetriesPerRequest).toBeNull();
    await cluster.close();
  });
});
