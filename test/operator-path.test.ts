import { createHash, randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type CoordinatorProcess,
  runCli,
  spawnCli,
  startCoordinatorProcess,
} from "./harness/cli-process.js";

// What a README reader does, each step its own `fedproof` process: start a coordinator, create
// a job with the bearer token from $FEDPROOF_TOKEN, run three devices to the end of the job,
// read the job and download its model.
describe("the operator path: coordinator, job, devices, model, as separate processes", () => {
  const token = randomBytes(16).toString("hex");
  let coordinator: CoordinatorProcess;

  beforeAll(async () => {
    coordinator = await startCoordinatorProcess("operator-path", { token });
  });
  afterAll(async () => {
    await coordinator?.dispose();
  });

  it("trains a two-round job with three `fedproof client` devices and serves the final model", async () => {
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
        "2",
        "--clients-per-round",
        "3",
        "--min-clients",
        "3",
        "--over-selection",
        "1",
        "--json",
      ],
      { FEDPROOF_TOKEN: token },
    );
    expect(created.code, created.stderr).toBe(0);
    const job = JSON.parse(created.stdout);
    expect(job.state).toBe("JOB_STATE_WAITING");
    expect(job.spec.proofs).toBe(false);
    expect(job.paramCount).toBe(String(16 * 4 + 4));

    const devices = [0, 1, 2].map((index) =>
      spawnCli([
        "client",
        ...at,
        "--job",
        job.jobId,
        "--device-id",
        `operator-${index}`,
        "--simulate",
        "synthetic",
        "--clients",
        "3",
        "--index",
        String(index),
        "--model",
        "logreg",
        "--json",
      ]),
    );
    const exits = await Promise.all(devices.map((device) => device.exited));
    for (const [index, device] of devices.entries()) {
      expect(exits[index], device.stderr()).toEqual({ code: 0, signal: null });
      const report = JSON.parse(device.stdout());
      expect(report.deviceId).toBe(`operator-${index}`);
      expect(report.jobState).toBe("JOB_STATE_COMPLETED");
      expect(report.rounds.map((r: { accepted: boolean }) => r.accepted)).toEqual([true, true]);
    }

    const status = await runCli(["job", "status", job.jobId, ...at, "--json"]);
    expect(status.code, status.stderr).toBe(0);
    const info = JSON.parse(status.stdout);
    expect(info.state).toBe("JOB_STATE_COMPLETED");
    expect(info.reason).toBe("all 2 rounds completed");
    expect(info.currentRound).toBe(2);
    expect(info.rounds).toHaveLength(2);
    for (const round of info.rounds) {
      expect(round.state).toBe("ROUND_STATE_COMPLETED");
      expect(round.accepted).toBe(3);
    }
    expect(info.rounds[1].modelHash).toBe(info.currentModelHash);
    expect(info.currentModelHash).not.toBe(info.initialModelHash);

    const out = path.join(coordinator.storeDir, "downloaded-model.bin");
    const model = await runCli(["job", "model", job.jobId, ...at, "--out", out, "--json"]);
    expect(model.code, model.stderr).toBe(0);
    expect(JSON.parse(model.stdout).modelHash).toBe(info.currentModelHash);
    const bytes = await readFile(out);
    expect(bytes.byteLength).toBe(4 * Number(job.paramCount));
    expect(createHash("sha256").update(bytes).digest("hex")).toBe(info.currentModelHash);
    const manifest = JSON.parse(await readFile(`${out}.manifest.json`, "utf8"));
    expect(manifest).toMatchObject({ modelHash: info.currentModelHash, paramCount: 68 });
  });

  it("stops on SIGTERM with exit status 0", async () => {
    coordinator.child.kill("SIGTERM");
    expect(await coordinator.exited).toEqual({ code: 0, signal: null });
  });
});
