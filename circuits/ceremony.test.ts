import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { releaseSnarkjsThreads } from "../client/core/proving/release-snarkjs.js";
import { batchVerifyGroth16 } from "../protocol/proofs/batch-verify-groth16.js";
import { inThreadProver } from "../protocol/proving/prove-groth16.js";
import { proveUpdate } from "../protocol/proving/prove-update-norm.js";
import { buildCircuits } from "./build.js";
import { ceremonyContribute, ceremonyVerify } from "./ceremony.js";
import { TEST_CIRCUITS } from "./circuit-catalog.js";
import { testCircuits } from "./test-circuits.js";

const cacheDir = mkdtempSync(join(tmpdir(), "fedproof-ceremony-"));

afterAll(async () => {
  rmSync(cacheDir, { recursive: true, force: true });
  await releaseSnarkjsThreads();
});

describe("production setup with a ceremony", () => {
  it("builds from an operator's ptau, needs a contribution, then proves and verifies", async () => {
    // Any prepared ptau serves to exercise the production path; the development one is at hand.
    const { ptauPath } = await testCircuits();
    const { circuits, insecure } = await buildCircuits({
      dev: false,
      ptau: ptauPath,
      cacheDir,
      circuits: [TEST_CIRCUITS.updateNorm],
    });
    expect(insecure).toBe(false);
    const initial = circuits[0];
    expect(initial.ready).toBe(false);
    expect(initial.contributions).toBe(0);
    expect(initial.zkeyPath).not.toMatch(/insecure/);

    const first = await ceremonyContribute({
      artifacts: initial,
      name: "alice",
      entropy: "alice's dice rolls 4 1 6 6 2 3",
    });
    const second = await ceremonyContribute({
      artifacts: first,
      name: "bob",
      entropy: "bob's coin flips HTTHHTHTTH",
    });
    expect(second.ready).toBe(true);
    expect(second.contributions).toBe(2);
    expect(second.verificationKeySha256).not.toBe(first.verificationKeySha256);
    const verified = await ceremonyVerify(second);
    expect(verified.contributions).toBe(2);

    const prover = inThreadProver({
      wasm: readFileSync(second.wasmPath),
      zkey: readFileSync(second.zkeyPath),
    });
    const context = {
      jobId: "j",
      round: 0,
      globalModelHash: "00".repeat(32),
      deviceId: "d",
      roundSeed: "00".repeat(32),
    };
    const { proofs } = await proveUpdate({
      q: new Int32Array([1, -2, 3]),
      circuit: { n: 64, bits: 16 },
      salt: 1n,
      context,
      c2: 100n,
      srs: (await testCircuits()).srs,
      prover,
    });
    expect((await batchVerifyGroth16(second.verificationKey, proofs)).valid).toBe(true);
    // The proof is tied to the key it was made with: the first contributor's key rejects it.
    expect((await batchVerifyGroth16(first.verificationKey, proofs)).valid).toBe(false);
  });
});
