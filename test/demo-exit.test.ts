import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnCli } from "./harness/cli-process.js";
import { TEST_REDIS_URL } from "./harness/redis.js";

/** A correctness bound: the bug was a demo that waited for its devices for many minutes. */
const EXIT_BOUND_MS = 15_000;
const ENROLMENT_TIMEOUT_S = 30;

/**
 * Loaded into every process the demo starts (NODE_OPTIONS): a `fedproof client` records its
 * pid and then blocks for ever without using the CPU, like a device still building its
 * proving keys on a slow machine, which would never notice that its job has failed.
 */
const STALLED_DEVICE = `
if (process.argv[2] === "client") {
  require("node:fs").writeFileSync(
    require("node:path").join(process.env.FEDPROOF_TEST_PID_DIR, String(process.pid)),
    "",
  );
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
}
`;

describe("fedproof demo when its job fails", () => {
  let dir: string;
  let pids: number[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "fedproof-demo-exit-"));
    await writeFile(path.join(dir, "stalled-device.cjs"), STALLED_DEVICE);
  });
  afterAll(async () => {
    for (const pid of pids.filter(isAlive)) process.kill(pid, "SIGKILL");
    await rm(dir, { recursive: true, force: true });
  });

  it("stops its devices at once and exits non-zero with the job's reason", async () => {
    const pidDir = path.join(dir, "pids");
    await mkdir(pidDir);
    const demo = spawnCli(
      [
        "demo",
        "--clients",
        "4",
        "--clients-per-round",
        "4",
        "--rounds",
        "1",
        "--no-chain",
        "--no-proofs",
        // Long enough for all four device processes to start (and write their pids) on a
        // loaded machine before the job fails; with 2 s, one was still starting when it failed.
        "--enrolment-timeout",
        String(ENROLMENT_TIMEOUT_S),
        "--json",
        "--log-level",
        "warn",
      ],
      {
        REDIS_URL: TEST_REDIS_URL,
        FEDPROOF_TEST_PID_DIR: pidDir,
        NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --require ${path.join(dir, "stalled-device.cjs")}`,
      },
    );
    try {
      await expect
        .poll(async () => (await readdir(pidDir)).length, { timeout: ENROLMENT_TIMEOUT_S * 1000 })
        .toBe(4);
      await demo.waitForStderr(
        new RegExp(
          `job-failed: only 0 of the 4 devices needed were online within ${ENROLMENT_TIMEOUT_S} s`,
        ),
        120_000,
      );
      const failedAt = Date.now();
      const exit = await Promise.race([
        demo.exited,
        new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), EXIT_BOUND_MS)),
      ]);
      expect(exit, demo.stderr()).toEqual({ code: 1, signal: null });
      expect(Date.now() - failedAt).toBeLessThan(EXIT_BOUND_MS);
      expect(JSON.parse(demo.stdout()).error.message).toBe(
        `the demo job ended FAILED: only 0 of the 4 devices needed were online within ${ENROLMENT_TIMEOUT_S} s`,
      );
      pids = (await readdir(pidDir)).map(Number);
      expect(pids).toHaveLength(4);
      expect(pids.filter(isAlive)).toEqual([]);
    } finally {
      if (demo.child.exitCode === null) demo.child.kill("SIGKILL");
    }
  });
});

describe("fedproof demo stopped by SIGTERM mid-job", () => {
  it("stops the devices, chain and private Redis it started, and exits non-zero", async () => {
    const demo = spawnCli([
      "demo",
      "--clients",
      "3",
      "--clients-per-round",
      "3",
      "--rounds",
      "50",
      "--no-proofs",
      "--json",
      "--log-level",
      "warn",
    ]);
    try {
      // Devices are started once the job exists and the initial model has been evaluated.
      await demo.waitForStderr(/initial model [0-9a-f]+… test accuracy/, 240_000);
      const children = childPids(demo.child.pid!);
      const commands = children.map(commandOf).join("\n");
      expect(commands).toMatch(/redis-server/);
      expect(commands).toMatch(/anvil/);
      demo.child.kill("SIGTERM");
      const exit = await Promise.race([
        demo.exited,
        new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), 45_000)),
      ]);
      expect(exit, demo.stderr()).toEqual({ code: 1, signal: null });
      expect(JSON.parse(demo.stdout()).error.message).toMatch(/the demo was stopped \(SIGTERM\)/);
      expect(children.filter(isAlive).map(commandOf)).toEqual([]);
    } finally {
      if (demo.child.exitCode === null) demo.child.kill("SIGKILL");
    }
  });
});

/** The direct children of `pid`, from /proc. */
function childPids(pid: number): number[] {
  const found = spawnSync("pgrep", ["-P", String(pid)], { encoding: "utf8" }).stdout;
  return found.split("\n").filter(Boolean).map(Number);
}

function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
  } catch {
    return `(pid ${pid} gone)`;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
