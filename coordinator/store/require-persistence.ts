import { FedproofError } from "../../common/errors.js";
import { redact } from "../../common/redact.js";
import type { JobStore, RedisPersistence } from "./job-store.js";

/** The Redis a coordinator was pointed at would lose jobs, rounds and sessions on a restart. */
export class RedisNotPersistentError extends FedproofError {
  override name = "RedisNotPersistentError";
  constructor(redisUrl: string, persistence: RedisPersistence) {
    super(
      `Redis at ${redact(redisUrl)} does not persist writes (append-only file off, per ${persistence.source}): a restart would lose every job, round and device`,
      {
        code: "FAILED_PRECONDITION",
        details:
          "start it with `redis-server --appendonly yes` (or run `CONFIG SET appendonly yes` and add `appendonly yes` to redis.conf), or pass --ephemeral for throwaway state (demos, tests)",
      },
    );
  }
}

/**
 * Refuses a Redis without the append-only file. Job, round and device state lives only there;
 * RDB snapshots alone lose minutes of it, and a restart between an accepted update and the
 * round's aggregation would silently drop contributions.
 */
export async function requirePersistence(
  store: JobStore,
  redisUrl: string,
): Promise<RedisPersistence> {
  const persistence = await store.persistence();
  if (!persistence.appendOnly) throw new RedisNotPersistentError(redisUrl, persistence);
  return persistence;
}
