import * as snarkjs from "snarkjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CircuitArtifacts } from "../../circuits/build.js";
import { testCircuits } from "../../circuits/test-circuits.js";
import type { KzgSrs } from "../../protocol/proving/kzg.js";
import {
  proveUpdate,
  type UpdateNormInputsParameters,
  updateNormInputs,
} from "../../protocol/proving/prove-update-norm.js";
import { computeUpdateCommitment } from "../../protocol/proving/update-commitment.js";
import { releaseSnarkjsThreads } from "../core/proving/release-snarkjs.js";
import { createProverPool, estimateProofMemoryMB, proverPoolSize } from "./prover-pool.js";

// Real test chunk circuit (n = 64, 16 bits): five chunks, the last one padded.
const N = 64;
const BITS = 16;
const context = {
  jobId: "job-pool",
  round: 2,
  globalModelHash: "cd".repeat(32),
  deviceId: "device-pool",
  roundSeed: "5e".repeat(32),
};
const salt = 987654321n;
const q = Int32Array.from({ length: 4 * N + 17 }, (_, i) => ((i * 7919) % 4001) - 2000);
// Pinned KZG blinding, so that two runs make the same witnesses (devices draw it at random).
const blindings = Array.from(
  { length: 5 },
  (_, j) => [BigInt(2 * j + 1), BigInt(2 * j + 2)] as const,
);
const c2 = computeUpdateCommitment({ q, n: N, bits: BITS, salt, blindings }).partialSums.reduce(
  (a, b) => a + b,
  0n,
);

let circuit: CircuitArtifacts;
let update: UpdateNormInputsParameters;

beforeAll(async () => {
  let srs: KzgSrs;
  ({ updateNorm: circuit, srs } = await testCircuits());
  update = { q, circuit: { n: N, bits: BITS }, salt, context, c2, srs, blindings };
}, 600_000);

afterAll(async () => {
  await releaseSnarkjsThreads();
});

describe("prover pool", () => {
  it("proves the chunks in parallel with byte-identical output to one worker in sequence", async () => {
    const sequential = await createProverPool({
      wasm: circuit.wasmPath,
      zkey: circuit.zkeyPath,
      size: 1,
      insecureDeterministicBlinding: true,
    });
    const pool = await createProverPool({
      wasm: circuit.wasmPath,
      zkey: circuit.zkeyPath,
      size: 2,
      insecureDeterministicBlinding: true,
    });
    try {
      const one = await proveUpdate({ ...update, prover: sequential.prove, concurrency: 1 });
      const many = await proveUpdate({ ...update, prover: pool.prove, concurrency: pool.size });
      expect(many.proofs).toHaveLength(5);
      expect(JSON.stringify(many.proofs)).toBe(JSON.stringify(one.proofs));
      expect(many.commitment).toBe(one.commitment);
      expect(many.squaredNorm).toBe(one.squaredNorm);
      // A second round on the same workers (key and witness generator stay loaded).
      const again = await proveUpdate({ ...update, prover: pool.prove, concurrency: pool.size });
      expect(JSON.stringify(again.proofs)).toBe(JSON.stringify(one.proofs));
    } finally {
      await Promise.all([sequential.close(), pool.close()]);
    }
  }, 300_000);

  it("draws fresh Groth16 blinding by default, and every pooled proof verifies in chunk order", async () => {
    const pool = await createProverPool({
      wasm: circuit.wasmPath,
      zkey: circuit.zkeyPath,
      size: 2,
    });
    try {
      const { proofs } = await proveUpdate({ ...update, prover: pool.prove, concurrency: 2 });
      const expected = (await updateNormInputs(update)).chunks;
      for (const [i, p] of proofs.entries()) {
        expect(p.publicSignals).toEqual(expected[i].publicSignals);
        expect(
          await snarkjs.groth16.verify(circuit.verificationKey, p.publicSignals, p.proof),
        ).toBe(true);
      }
      const [first, second] = await Promise.all([
        pool.prove(expected[0].input),
        pool.prove(expected[0].input),
      ]);
      expect(first.publicSignals).toEqual(second.publicSignals);
      expect(JSON.stringify(first.proof)).not.toBe(JSON.stringify(second.proof));
    } finally {
      await pool.close();
    }
  }, 300_000);

  it("rejects a witness that breaks the circuit without stalling the queue", async () => {
    const pool = await createProverPool({
      wasm: circuit.wasmPath,
      zkey: circuit.zkeyPath,
      size: 2,
    });
    try {
      const [chunk] = (await updateNormInputs(update)).chunks;
      const bad = { ...chunk.input, sumBefore: (c2 + 1n).toString() };
      const results = await Promise.allSettled([pool.prove(bad), pool.prove(chunk.input)]);
      expect(results[0].status).toBe("rejected");
      expect(results[1].status).toBe("fulfilled");
    } finally {
      await pool.close();
    }
  }, 300_000);

  it("sizes itself to the cores and the memory budget", () => {
    const key = 45 * 2 ** 20; // a 2^16 chunk circuit's proving key
    expect(estimateProofMemoryMB(key)).toBeGreaterThan(600);
    expect(proverPoolSize({ zkeyBytes: key, cores: 8, memoryBudgetMB: 16_000 })).toBe(8);
    expect(proverPoolSize({ zkeyBytes: key, cores: 8, memoryBudgetMB: 1_500 })).toBe(2);
    expect(proverPoolSize({ zkeyBytes: key, cores: 8, memoryBudgetMB: 100 })).toBe(1);
    expect(() => proverPoolSize({ zkeyBytes: key, memoryBudgetMB: 0 })).toThrow(/budget/);
  });
});
