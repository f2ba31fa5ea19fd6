import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { FedproofError } from "../common/errors.js";
import { buildCircuitsOffThread } from "./build-off-thread.js";
import { TEST_CIRCUITS } from "./circuit-catalog.js";
import { testCircuits } from "./test-circuits.js";

describe("buildCircuitsOffThread", () => {
  it("returns the artifacts the in-thread build does, with the build's log lines", async () => {
    const inThread = await testCircuits();
    const lines: string[] = [];
    const offThread = await buildCircuitsOffThread({
      dev: true,
      circuits: [TEST_CIRCUITS.updateNorm, TEST_CIRCUITS.dataValidity],
      logger: { info: (line) => lines.push(line), warn: (line) => lines.push(line) },
    });
    expect(offThread.circuits.map((c) => c.verificationKeySha256)).toEqual([
      inThread.updateNorm.verificationKeySha256,
      inThread.dataValidity.verificationKeySha256,
    ]);
    expect(offThread.circuits[0]!.zkeyPath).toBe(inThread.updateNorm.zkeyPath);
    expect(offThread.ptauPath).toBe(inThread.ptauPath);
    expect(lines.length).toBeGreaterThan(0);
  });

  it("fails with the build's own error: name, code and message", async () => {
    const cacheDir = await mkdtemp(path.join(os.tmpdir(), "fedproof-off-thread-"));
    try {
      const failure = await buildCircuitsOffThread({
        dev: false,
        cacheDir,
        circuits: [TEST_CIRCUITS.updateNorm],
      }).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(FedproofError);
      expect((failure as FedproofError).code).toBe("INVALID_ARGUMENT");
      expect((failure as FedproofError).name).toBe("InvalidArgumentError");
      expect((failure as Error).message).toMatch(/a production build needs --ptau FILE/);
    } finally {
      await rm(cacheDir, { recursive: true, force: true });
    }
  });
});
