import { randomBytes } from "node:crypto";
import { deleteKeysWithPrefix, type RedisClient } from "../../coordinator/store/redis.js";

export const TEST_REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

/** A key prefix of its own for each test, so test files can share one Redis. */
export function uniquePrefix(name: string): string {
  return `fedproof-test:${name}:${randomBytes(4).toString("hex")}`;
}

/** Deletes every key under `prefix` (including BullMQ's), leaving the server as found. */
export function deletePrefix(prefix: string): Promise<void> {
  return deleteKeysWithPrefix(TEST_REDIS_URL, prefix);
}

/**
 * The stored bytes of `keys` (DUMP, null for a missing key): equal snapshots before and after
 * a refusal show it changed nothing, not even a field the store's view would hide.
 */
export function snapshotKeys(
  redis: RedisClient,
  keys: readonly string[],
): Promise<(Buffer | null)[]> {
  return Promise.all(keys.map((key) => redis.dumpBuffer(key)));
}
