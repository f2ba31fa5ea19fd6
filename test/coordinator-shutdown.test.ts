import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { type ServiceError, status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { joinJob } from "../client/node/coordinator-client.js";
import { createFedproofClients, type FedproofClients } from "../proto/clients.js";
import type { TaskEvent__Output } from "../proto/generated/fedproof/v1/TaskEvent.js";
import { randomPrivateKey } from "../protocol/proving/eddsa-poseidon.js";
import {
  type CliProcess,
  type CoordinatorProcess,
  runCli,
  spawnCli,
  startCoordinatorProcess,
} from "./harness/cli-process.js";
import { deletePrefix, TEST_REDIS_URL, uniquePrefix } from "./harness/redis.js";

/** A correctness bound, not a benchmark: the bug was a shutdown that never returned. */
const SHUTDOWN_BOUND_MS = 10_000;

describe("a coordinator process receiving SIGTERM with devices connected", () => {
  const token = randomBytes(16).toString("hex");
  let coordinator: CoordinatorProcess;
  let clients: FedproofClients | undefined;
  const processes: CliProcess[] = [];

  beforeAll(async () => {
    coordinator = await startCoordinatorProcess("coordinator-shutdown", { token });
  });
  afterAll(async () => {
    clients?.close();
    for (const { child } of processes) if (child.exitCode === null) child.kill("SIGKILL");
    await coordinator?.dispose();
  });

  it("ends every task stream with UNAVAILABLE, closes its workers and exits 0 within the bound", async () => {
    const at = ["--coordinator", coordinator.address];
    const created = await runCli(
      [
        "job",
        "create",
        ...at,
        "--schema",
        "synthetic",
        "--model",
        "logreg",
        "--rounds",
        "3",
        "--clients-per-round",
        "2",
        "--min-clients",
        "2",
        "--over-selection",
        "1",
        "--json",
      ],
      { FEDPROOF_TOKEN: token },
    );
    expect(created.code, created.stderr).toBe(0);
    const jobId: string = JSON.parse(created.stdout).jobId;

    // One device is a `fedproof client` process; the other is this test, on the raw gRPC API,
    // and never uploads, so the round stays open with both task streams connected.
    const device = spawnCli([
      "client",
      ...at,
      "--job",
      jobId,
      "--device-id",
      "cli-device",
      "--simulate",
      "synthetic",
      "--clients",
      "2",
      "--index",
      "0",
      "--model",
      "logreg",
      // Told not to reconnect, it reports the status it heard and exits.
      "--reconnect-attempts",
      "0",
    ]);
    processes.push(device);
    clients = createFedproofClients(coordinator.address);
    const session = await joinJob(clients.coordinator, {
      jobId,
      deviceId: "raw-device",
      samples: 100,
      privateKey: randomPrivateKey(),
    });
    const stream = clients.coordinator.tasks({ sessionToken: session.sessionToken });
    const firstTask = new Promise<void>((resolve) =>
      stream.on("data", (event: TaskEvent__Output) => {
        if (event.task) resolve();
      }),
    );
    const streamEnded = new Promise<ServiceError>((resolve) => stream.on("error", resolve));
    // A round starts only once both devices are online: both task streams are open now.
    await firstTask;
    // A job watcher holds a stream that never ends on its own: the grace period cuts it.
    const watcher = spawnCli(["job", "watch", jobId, ...at, "--json"]);
    processes.push(watcher);
    await new Promise<void>((resolve) => watcher.child.stdout!.once("data", () => resolve()));

    const signalled = Date.now();
    coordinator.child.kill("SIGTERM");
    const exit = await within(coordinator.exited, SHUTDOWN_BOUND_MS, "the coordinator to exit");
    const elapsed = Date.now() - signalled;
    expect(exit, coordinator.stderr()).toEqual({ code: 0, signal: null });
    expect(elapsed).toBeLessThan(SHUTDOWN_BOUND_MS);
    expect(coordinator.stderr()).toMatch(/"msg":"stopped"/);

    const error = await within(streamEnded, SHUTDOWN_BOUND_MS, "the raw task stream to end");
    expect(error.code).toBe(status.UNAVAILABLE);
    expect(error.details).toMatch(/coordinator is shutting down: reconnect/);

    // The device process hears the same status and says so.
    const deviceExit = await within(device.exited, SHUTDOWN_BOUND_MS, "the device to exit");
    expect(deviceExit.code, device.stderr()).toBe(1);
    expect(device.stderr()).toMatch(/coordinator is shutting down.*\(gRPC status 14\)/);
    expect((await within(watcher.exited, SHUTDOWN_BOUND_MS, "the watcher to exit")).code).not.toBe(
      0,
    );
  });
});

describe("a coordinator process receiving SIGTERM the instant it is ready", () => {
  // The race behind a CI flake: the ready document was written before the signal listeners
  // were installed, so a SIGTERM sent on its first byte killed the process by signal (2 of 4
  // tries failed before the fix). Sent on the first stdout chunk, it must take the shutdown.
  // Six at once: as likely to hit the race as six in a row, without six startups' worth of time.
  it("shuts down cleanly, every time", async () => {
    const token = randomBytes(16).toString("hex");
    const attempts = await Promise.all(
      Array.from({ length: 6 }, () => startCoordinatorProcessKilledOnFirstOutput(token)),
    );
    for (const started of attempts) {
      expect(started.exit, started.stderr).toEqual({ code: 0, signal: null });
      expect(started.stderr).toMatch(/"msg":"stopped"/);
    }
  }, 300_000);
});

async function startCoordinatorProcessKilledOnFirstOutput(
  token: string,
): Promise<{ exit: { code: number | null; signal: NodeJS.Signals | null }; stderr: string }> {
  const storeDir = await mkdtemp(path.join(os.tmpdir(), "fedproof-ready-sigterm-"));
  const prefix = uniquePrefix("ready-sigterm");
  try {
    const coordinator = spawnCli(
      [
        "coordinator",
        "--port",
        "0",
        "--redis-url",
        TEST_REDIS_URL,
        "--prefix",
        prefix,
        "--store",
        storeDir,
        "--json",
        "--ephemeral",
      ],
      { FEDPROOF_TOKEN: token },
    );
    coordinator.child.stdout!.once("data", () => coordinator.child.kill("SIGTERM"));
    const exit = await within(coordinator.exited, 240_000, "the coordinator to start and exit");
    return { exit, stderr: coordinator.stderr() };
  } finally {
    await deletePrefix(prefix);
    await rm(storeDir, { recursive: true, force: true });
  }
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([
    promise,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`waited more than ${ms} ms for ${what}`)), ms),
    ),
  ]);
}
