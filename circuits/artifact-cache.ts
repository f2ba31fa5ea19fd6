import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, readFile, rm, stat } from "node:fs/promises";
import { homedir } from "node:os";
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

/**
 * Runs `fn` while holding `lockPath` (an exclusive mkdir, atomic on every file system), so
 * two processes building the same artifact (test workers, a coordinator and a CLI) do the
 * work once; the second waits and then finds the result in the cache.
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
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const age = await stat(lockPath).then(
        (s) => Date.now() - s.mtimeMs,
        () => 0,
      );
      if (age > STALE_LOCK_MS) {
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
