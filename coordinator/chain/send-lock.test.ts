import { Redis } from "ioredis";
import type { Address } from "viem";
import { afterAll, describe, expect, it } from "vitest";
import { deletePrefix, TEST_REDIS_URL, uniquePrefix } from "../../test/harness/redis.js";
import {
  createLocalSendLock,
  createRedisSendLock,
  SendLockTimeoutError,
  sendLockKey,
} from "./send-lock.js";

const sender: Address = "0x00000000000000000000000000000000000000aa";
const other: Address = "0x00000000000000000000000000000000000000bb";
const prefix = uniquePrefix("send-lock");
const connections: Redis[] = [];

function connect(): Redis {
  const redis = new Redis(TEST_REDIS_URL);
  connections.push(redis);
  return redis;
}

afterAll(async () => {
  for (const redis of connections) redis.disconnect();
  await deletePrefix(prefix);
});

/** Runs `count` holders through `locks` round-robin and records the largest overlap seen. */
async function maxOverlap(
  locks: ReturnType<typeof createLocalSendLock>[],
  count: number,
  address = sender,
) {
  let inside = 0;
  let most = 0;
  await Promise.all(
    Array.from({ length: count }, (_, index) =>
      locks[index % locks.length]!(address, async () => {
        inside += 1;
        most = Math.max(most, inside);
        await new Promise((resolve) => setTimeout(resolve, 5));
        inside -= 1;
      }),
    ),
  );
  return most;
}

describe("send locks", () => {
  it("serialise one process's sends per sender and pass results and errors through", async () => {
    const lock = createLocalSendLock();
    expect(await maxOverlap([lock], 8)).toBe(1);
    await expect(lock(sender, async () => 7)).resolves.toBe(7);
    await expect(lock(sender, async () => Promise.reject(new Error("boom")))).rejects.toThrow(
      "boom",
    );
    await expect(lock(sender, async () => "after an error")).resolves.toBe("after an error");
  });

  it("serialise sends across separate Redis connections (processes), and only per sender", async () => {
    const locks = [connect(), connect(), connect()].map((redis) =>
      createRedisSendLock({ redis, prefix, chainId: 1, pollMs: 2 }),
    );
    expect(await maxOverlap(locks, 9)).toBe(1);
    // Different senders do not wait for each other.
    let bothInside = false;
    let release: () => void = () => {};
    const held = locks[0]!(sender, () => new Promise<void>((resolve) => (release = resolve)));
    await new Promise((resolve) => setTimeout(resolve, 20));
    await locks[1]!(other, async () => {
      bothInside = true;
    });
    release();
    await held;
    expect(bothInside).toBe(true);
    expect(await connections[0]!.exists(sendLockKey(prefix, 1, sender))).toBe(0);
  });

  it("releases the lock once Redis answers again when the release failed", async () => {
    const redis = connect();
    let failures = 1;
    // Redis gone at the moment of the release (a restart mid-send), back a moment later.
    const flaky = new Proxy(redis, {
      get(target, property, receiver) {
        if (property === "eval" && failures > 0) {
          return async () => {
            failures -= 1;
            throw new Error("Connection is closed.");
          };
        }
        const value = Reflect.get(target, property, receiver);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const key = sendLockKey(prefix, 3, sender);
    const lock = createRedisSendLock({ redis: flaky, prefix, chainId: 3 });
    await expect(lock(sender, async () => "sent")).resolves.toBe("sent");
    // Not left to its two-minute expiry: the next sender gets the key within seconds.
    const other = createRedisSendLock({ redis: connect(), prefix, chainId: 3, waitMs: 10_000 });
    await expect(other(sender, async () => "next")).resolves.toBe("next");
    expect(failures).toBe(0);
    expect(await redis.exists(key)).toBe(0);
  });

  it("gives up, retryably, when another holder keeps the lock", async () => {
    const redis = connect();
    await redis.set(sendLockKey(prefix, 2, sender), "someone else", "PX", 10_000);
    const lock = createRedisSendLock({ redis, prefix, chainId: 2, waitMs: 100, pollMs: 5 });
    const attempt = lock(sender, async () => "never");
    await expect(attempt).rejects.toBeInstanceOf(SendLockTimeoutError);
    // Our failed attempt must not have released the other holder's lock.
    expect(await redis.get(sendLockKey(prefix, 2, sender))).toBe("someone else");
  });
});
