import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { BuildLockTimeoutError, exists, withLock } from "./artifact-cache.js";

const children: ChildProcess[] = [];
const directories: string[] = [];

afterEach(() => {
  for (const child of children.splice(0)) child.kill("SIGKILL");
  for (const directory of directories.splice(0))
    rmSync(directory, { recursive: true, force: true });
});

/** A real process that takes `lockPath` through withLock and holds it until killed. */
async function holdLockInChild(lockPath: string): Promise<ChildProcess> {
  const script = `import { withLock } from ${JSON.stringify(join(import.meta.dirname, "artifact-cache.ts"))};
await withLock(${JSON.stringify(lockPath)}, async () => { process.stdout.write("locked\\n"); setInterval(() => {}, 1000); await new Promise(() => {}); });`;
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(child);
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (data: Buffer) => {
      if (data.toString().includes("locked")) resolve();
    });
    child.on("exit", (code) => reject(new Error(`lock holder exited with ${code}`)));
  });
  return child;
}

function lockPathInTemp(): string {
  const directory = mkdtempSync(join(tmpdir(), "fedproof-lock-"));
  directories.push(directory);
  return join(directory, "artifact.lock");
}

describe("withLock", () => {
  it("waits for a live owner and gives up at its timeout, leaving the owner's lock", async () => {
    const lockPath = lockPathInTemp();
    await holdLockInChild(lockPath);
    let ran = false;
    await expect(
      withLock(
        lockPath,
        async () => {
          ran = true;
        },
        1_000,
      ),
    ).rejects.toBeInstanceOf(BuildLockTimeoutError);
    expect(ran).toBe(false);
    expect(await exists(lockPath)).toBe(true);
  });

  it("takes over at once a lock whose owner was killed (SIGKILL leaves the lock behind)", async () => {
    const lockPath = lockPathInTemp();
    const holder = await holdLockInChild(lockPath);
    const exited = new Promise((resolve) => holder.once("exit", resolve));
    holder.kill("SIGKILL");
    await exited;
    expect(await exists(lockPath)).toBe(true);
    // Without the owner check this waits for the hour-old rule and fails at the 5 s timeout.
    const result = await withLock(lockPath, async () => "built", 5_000);
    expect(result).toBe("built");
    expect(await exists(lockPath)).toBe(false);
  });
});
