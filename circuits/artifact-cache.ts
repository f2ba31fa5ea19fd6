import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { homedir, hostname } from "node:os";
import { dirname, join } from "node:path";
import { FedproofError } from "../common/errors.js";

/**
 * Root of fedproof's build cache: `cacheDir` if given, else $FEDPROOF_CACHE_DIR, else
 * ~/.cache/fedproof. Circuit builds, ptau files and keys are large, regenerable and (for
 * the development setup) insecure, so they never live in the source tree.
 */
export function cacheRoot(cacheDir?: string): string {
  return cacheDir ?? process.env.FEDPROOF_CACHE_DIR ?? join(homedir(), ".cache", "fedproof");
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

export async function readJson<T>(path: string): Promise<T> {
  return JSON.parse(await readFile(path, "utf8")) as T;
}

/** Another process holds a build lock for longer than any build takes. */
export class BuildLockTimeoutError extends FedproofError {
  override name = "BuildLockTimeoutError";
  constructor(lockPath: string) {
    super(`timed out waiting for the build lock ${lockPath}`, {
      details:
        "another fedproof process is building the same artifact; remove the lock if it crashed",
      code: "UNAVAILABLE",
    });
  }
}

const STALE_LOCK_MS = 60 * 60 * 1000;

interface LockOwner {
  pid: number;
  hostname: string;
}

/**
 * Whether the process that took `lockPath` is gone: its owner file names a pid on this host
 * that no longer exists. A build killed by SIGKILL or a crash leaves its lock behind, and the
 * next build used to wait up to an hour for it, silently (a demo stopped with Ctrl-C during its
 * circuit build made the next demo hang). A lock from another host, or one whose owner cannot
 * be read, is only stale by age.
 */
async function lockOwnerIsGone(lockPath: string): Promise<boolean> {
  let owner: LockOwner;
  try {
    owner = JSON.parse(await readFile(join(lockPath, "owner.json"), "utf8")) as LockOwner;
  } catch {
    return false;
  }
  if (owner.hostname !== hostname() || !Number.isInteger(owner.pid) || owner.pid <= 0) {
    return false;
  }
  try {
    process.kill(owner.pid, 0);
    return false;
  } catch (error) {
    // EPERM: the pid exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === "ESRCH";
  }
}

/**
 * Runs `fn` while holding `lockPath` (an exclusive mkdir, atomic on every file system), so
 * two processes building the same artifact (test workers, a coordinator and a CLI) do the
 * work once; the second waits and then finds the result in the cache. The lock names its
 * owner (pid and host), so a lock whose owner died is taken over at once; otherwise a lock
 * older than an hour is.
 */
export async function withLock<T>(
  lockPath: string,
  fn: () => Promise<T>,
  timeoutMs = 2 * STALE_LOCK_MS,
): Promise<T> {
  await mkdir(dirname(lockPath), { recursive: true });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await mkdir(lockPath);
      const owner: LockOwner = { pid: process.pid, hostname: hostname() };
      await writeFile(join(lockPath, "owner.json"), JSON.stringify(owner));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const age = await stat(lockPath).then(
        (s) => Date.now() - s.mtimeMs,
        () => 0,
      );
      if (age > STALE_LOCK_MS || (await lockOwnerIsGone(lockPath))) {
        await rm(lockPath, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) throw new BuildLockTimeoutError(lockPath);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lockPath, { recursive: true, force: true });
  }
}
