import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FEDPROOF_SERVICES } from "../../coordinator/observability/health.js";
import {
  type CoordinatorProcess,
  runCli,
  startCoordinatorProcess,
} from "../harness/cli-process.js";
import { joinRawDevice } from "../harness/raw-device.js";
import { checkHealth, createHealthClient, type HealthClient } from "./ops-fixtures.js";

describe("the coordinator's gRPC health service", () => {
  const token = randomBytes(16).toString("hex");
  let coordinator: CoordinatorProcess;
  let health: HealthClient;

  beforeAll(async () => {
    coordinator = await startCoordinatorProcess("health", { token });
    // The device's channel settings, so both share one connection and arrive in the order sent.
    health = createHealthClient(coordinator.address);
  });
  afterAll(async () => {
    health?.close();
    await coordinator?.dispose();
  });

  it("says SERVING while up, and NOT_SERVING as shutdown begins, before task streams end", async () => {
    for (const service of ["", ...FEDPROOF_SERVICES]) {
      expect(await checkHealth(health, service), service).toBe("SERVING");
    }
    await expect(checkHealth(health, "fedproof.v1.Nothing")).rejects.toMatchObject({ code: 5 });

    const created = await runCli(
      [
        "job",
        "create",
        "--coordinator",
        coordinator.address,
        "--schema",
        "synthetic",
        "--model",
        "logreg",
        "--clients-per-round",
        "2",
        "--min-clients",
        "2",
        "--json",
      ],
      { FEDPROOF_TOKEN: token },
    );
    expect(created.code, created.stderr).toBe(0);
    const { jobId } = JSON.parse(created.stdout) as { jobId: string };
    // A connected device: its task stream stays open until the coordinator ends it.
    const device = await joinRawDevice(coordinator.address, jobId, "health-device");

    const seen: string[] = [];
    const watch = health.watch({ service: "" });
    watch.on("data", ({ status }: { status: string }) => seen.push(`health ${status}`));
    watch.on("error", () => {});
    await expect.poll(() => seen).toEqual(["health SERVING"]);
    // The job waits for a second device, so nothing but the shutdown ends this stream.
    const tasksEnded = new Promise<void>((resolve) => {
      const stream = device.clients.coordinator.tasks({
        sessionToken: device.session.sessionToken,
      });
      const ended = () => {
        if (!seen.includes("tasks ended")) seen.push("tasks ended");
        resolve();
      };
      stream.on("error", ended);
      stream.on("end", ended);
      stream.on("data", () => {});
    });
    // Both streams are open once the device counts as online.
    await new Promise((resolve) => setTimeout(resolve, 500));

    coordinator.child.kill("SIGTERM");
    await tasksEnded;
    await expect.poll(() => seen.includes("health NOT_SERVING"), { timeout: 10_000 }).toBe(true);
    expect(seen.indexOf("health NOT_SERVING")).toBeLessThan(seen.indexOf("tasks ended"));
    expect((await coordinator.exited).code).toBe(0);
    device.close();
  });
});
