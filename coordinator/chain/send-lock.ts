/**
 * Serialises transaction sends per signing key. viem picks a nonce from the node's pending count
 * just before it signs, so two senders sharing a key that sign at the same moment pick the same
 * nonce and one transaction is refused ("nonce too low") or silently replaces the other. Holding
 * a lock from that read until the node has accepted the transaction makes the next sender see the
 * new pending count. The lock is released as soon as the transaction is in the node's pool, not
 * when it is mined: waiting for receipts stays concurrent.
 *
 * `createLocalSendLock` covers one process; `createRedisSendLock` covers every worker and
 * coordinator pointed at the same Redis, keyed by chain and sender address.
 */
import { randomBytes } from "node:crypto";
import type { Address } from "viem";
import { FedproofError } from "../../common/errors.js";
import { createKeys } from "../store/keys.js";
import type { RedisClient } from "../store/redis.js";

/** Runs `work` while no other holder of the same lock sends for `sender`. */
export type SendLock = <T>(sender: Address, work: () => Promise<T>) => Promise<T>;

/** In-process only: a promise chain per sender. */
export function createLocalSendLock(): SendLock {
  const tails = new Map<string, Promise<unknown>>();
  return async (sender, work) => {
    const key = sender.toLowerCase();
    const previous = tails.get(key) ?? Promise.resolve();
    const run = previous.then(work, work);
    const tail = run.catch(() => undefined);
    tails.set(key, tail);
    try {
      return await run;
    } finally {
      if (tails.get(key) === tail) tails.delete(key);
    }
  };
}

/** Another process held the sender's lock for longer than we were willing to wait. */
export class SendLockTimeoutError extends FedproofError {
  override name = "SendLockTimeoutError";
  constructor(shortMessage: string) {
    super(shortMessage, { code: "UNAVAILABLE" });
  }
}

export interface CreateRedisSendLockParameters {
  redis: RedisClient;
  /** Deployment key prefix (the same one the job store uses). */
  prefix: string;
  chainId: number;
  /**
   * Lock expiry. It bounds how long a crashed holder blocks the key, and must exceed the longest
   * simulate-sign-send (viem's HTTP timeout is 10 s per call, with retries). Default 120 s.
   */
  ttlMs?: number;
  /** Give up (transiently) after waiting this long. Default 180 s. */
  waitMs?: number;
  /** Polling interval while the lock is held elsewhere. Default 25 ms (plus jitter). */
  pollMs?: number;
}

// Deletes the lock only if it still holds our token: an expired lock re-taken by another sender
// must not be released by the first.
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

export function sendLockKey(prefix: string, chainId: number, sender: Address): string {
  return createKeys(prefix).sendLock(chainId, sender);
}

export function createRedisSendLock(parameters: CreateRedisSendLockParameters): SendLock {
  const { redis, chainId } = parameters;
  const keys = createKeys(parameters.prefix);
  const ttlMs = parameters.ttlMs ?? 120_000;
  const waitMs = parameters.waitMs ?? 180_000;
  const pollMs = parameters.pollMs ?? 25;
  // Within one process, queue locally first: polling Redis against ourselves only adds latency.
  const local = createLocalSendLock();

  return (sender, work) =>
    local(sender, async () => {
      const key = keys.sendLock(chainId, sender);
      const token = randomBytes(16).toString("hex");
      const deadline = Date.now() + waitMs;
      while ((await redis.set(key, token, "PX", ttlMs, "NX")) !== "OK") {
        if (Date.now() > deadline) {
          throw new SendLockTimeoutError(
            `another sender held the transaction lock of ${sender} for more than ${waitMs} ms`,
          );
        }
        await sleep(pollMs + Math.random() * pollMs);
      }
      try {
        return await work();
      } finally {
        // The send's own outcome matters more than the release, so a failed release does not
        // fail the send. But a lock left behind holds every send of this key until it expires
        // (two minutes by default: a Redis restart mid-send stalled all anchoring that long), so
        // it is released in the background as soon as Redis answers again.
        const release = () => redis.eval(RELEASE, 1, key, token);
        await release().catch(() => releaseLater(release, Date.now() + ttlMs, 100));
      }
    });
}

/** Retries `release` with a capped backoff until it succeeds or the lock has expired anyway. */
function releaseLater(release: () => Promise<unknown>, expiresAtMs: number, delayMs: number) {
  if (Date.now() + delayMs >= expiresAtMs) return;
  const timer = setTimeout(() => {
    release().catch(() => releaseLater(release, expiresAtMs, Math.min(delayMs * 2, 2_000)));
  }, delayMs);
  // A process on its way out need not stay for this: the lock expires on its own.
  timer.unref();
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
