import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { releaseSnarkjsThreads } from "../client/core/proving/release-snarkjs.js";
import { createWorkerProver, type WorkerProver } from "../client/node/prove-worker.js";
import {
  type VerifyContributionParameters,
  verifyContribution,
} from "../coordinator/proofs/verify-contribution.js";
import { batchVerifyGroth16 } from "../protocol/proofs/batch-verify-groth16.js";
import {
  ChunkChainError,
  ClipBoundMismatchError,
  CommitmentMismatchError,
  ContextMismatchError,
  KzgMismatchError,
  ProofInvalidError,
  ProofMissingError,
} from "../protocol/proofs/errors.js";
import { type KzgSrs, kzgCommit, kzgOpen, toField } from "../protocol/proving/kzg.js";
import { kzgChallenge } from "../protocol/proving/kzg-challenge.js";
import { ProofGenerationError, type ProofWithSignals } from "../protocol/proving/prove-groth16.js";
import {
  type ChunkKzgUpload,
  NormAboveBoundError,
  proveUpdate,
  updateNormInputs,
} from "../protocol/proving/prove-update-norm.js";
import {
  type ChunkBlinding,
  chunkKzgCoefficients,
  chunkValues,
  computeUpdateCommitment,
} from "../protocol/proving/update-commitment.js";
import { encodeUpdate } from "../protocol/update/quantize.js";
import type { CircuitArtifacts } from "./build.js";
import { testCircuits } from "./test-circuits.js";

// Real circuit (n = 64, 16 bits), real witness generator, real snarkjs, development setup.
const BITS = 16;
const N = 64;
const PARAMS = 150; // three chunks, the last one padded
const context = {
  jobId: "job-1",
  round: 3,
  globalModelHash: "ab".repeat(32),
  deviceId: "device-7",
  roundSeed: "5e".repeat(32),
};
const salt = 123456789n;
// Pinned so the device's inputs can be recomputed and compared; devices draw them at random.
const blindings: ChunkBlinding[] = [
  [11n, 12n],
  [21n, 22n],
  [31n, 32n],
];

function honestUpdate(): Int32Array {
  const q = new Int32Array(PARAMS);
  for (let i = 0; i < PARAMS; i++) q[i] = ((i * 7919) % 2001) - 1000;
  q[5] = 32767; // the extremes of the 16-bit range
  q[6] = -32767;
  return q;
}

let circuit: CircuitArtifacts;
let prover: WorkerProver;
let q: Int32Array;
let c2: bigint;
let proofs: ProofWithSignals[];
let kzg: ChunkKzgUpload[];
let srs: KzgSrs;

function parameters(
  overrides: Partial<VerifyContributionParameters> = {},
): VerifyContributionParameters {
  return {
    circuits: {
      updateNorm: {
        id: circuit.id,
        verificationKey: circuit.verificationKey,
        parameters: { n: N, bits: BITS },
        srs,
      },
    },
    proofs: proofs.map((p) => ({ circuitId: circuit.id, ...p })),
    expected: { ...context, c2 },
    uploadedBytes: encodeUpdate(q, BITS),
    bits: BITS,
    paramCount: PARAMS,
    salt,
    kzg,
    ...overrides,
  };
}

beforeAll(async () => {
  ({ updateNorm: circuit, srs } = await testCircuits());
  prover = await createWorkerProver({ wasm: circuit.wasmPath, zkey: circuit.zkeyPath });
  q = honestUpdate();
  const squared = computeUpdateCommitment({
    q,
    n: N,
    bits: BITS,
    salt,
    blindings,
  }).partialSums.reduce((a, b) => a + b, 0n);
  c2 = squared + 10n; // the update sits just under the bound
  ({ proofs, kzg } = await proveUpdate({
    q,
    circuit: { n: N, bits: BITS },
    salt,
    context,
    c2,
    srs,
    blindings,
    prover: prover.prove,
  }));
});

afterAll(async () => {
  await prover?.close();
  await releaseSnarkjsThreads();
});

describe("UpdateNorm chunk circuit", () => {
  it("is built with the insecure development setup, labelled as such", () => {
    expect(circuit.insecure).toBe(true);
    expect(circuit.zkeyPath).toMatch(/dev-insecure/);
    expect(circuit.verificationKeySha256).toMatch(/^0x[0-9a-f]{64}$/);
  });

  it("proves an honest update whose public signals match the device's own computation", async () => {
    const { chunks } = await updateNormInputs({
      q,
      circuit: { n: N, bits: BITS },
      salt,
      context,
      c2,
      srs,
      blindings,
    });
    expect(proofs).toHaveLength(3);
    for (let j = 0; j < 3; j++) expect(proofs[j].publicSignals).toEqual(chunks[j].publicSignals);
  });

  it("outputs the evaluation at the challenge its KZG commitment gives, over the proven values", async () => {
    for (let j = 0; j < 3; j++) {
      const [commitment, , evaluation, ctx, , , x] = proofs[j]!.publicSignals.map(BigInt);
      const coefficients = chunkKzgCoefficients(
        chunkValues(q, { n: N, bits: BITS }, j),
        BITS,
        blindings[j]!,
      );
      // The commitment the verifier recomputes from the bytes and the blinding.
      expect(kzg[j]!.commitment).toBe(await kzgCommit(srs, coefficients));
      expect(x).toBe(
        kzgChallenge({ context: ctx!, commitment: commitment!, kzgCommitment: kzg[j]!.commitment }),
      );
      const opened = await kzgOpen(srs, coefficients, x!);
      expect(opened.value).toBe(evaluation);
      expect(kzg[j]!.opening).toBe(opened.proof);
    }
  });

  it("draws fresh uniform blinding per chunk when none is given", async () => {
    const drawn = await updateNormInputs({
      q,
      circuit: { n: N, bits: BITS },
      salt,
      context,
      c2,
      srs,
    });
    const values = drawn.chunks.flatMap((c) => c.kzg.blinding);
    expect(new Set(values).size).toBe(6);
    // Hiding needs the whole field: a draw above 2^253 shows up in a few tries.
    expect(values.every((v) => v >= 0n && v < 2n ** 254n)).toBe(true);
    expect(drawn.commitment).not.toBe(
      computeUpdateCommitment({ q, n: N, bits: BITS, salt, blindings }).commitment,
    );
  });

  it("verifies the honest contribution and recomputes its commitment from the bytes", async () => {
    const result = await verifyContribution(parameters());
    expect(result.commitment).toBe(
      computeUpdateCommitment({ q, n: N, bits: BITS, salt, blindings }).commitment,
    );
    expect(result.kzgCommitments).toEqual(kzg.map((k) => k.commitment));
    expect(result.kzgOpenings).toEqual(kzg.map((k) => k.opening));
    expect(result.squaredNorm).toBe(c2 - 10n);
    expect(result.pairingChecks).toBe("batch");
  });

  it("rejects the upload when one byte differs from what was proven", async () => {
    const bytes = encodeUpdate(q, BITS);
    bytes[2 * 100] ^= 0x01; // value 100, chunk 1
    await expect(verifyContribution(parameters({ uploadedBytes: bytes }))).rejects.toThrow(
      CommitmentMismatchError,
    );
    await expect(verifyContribution(parameters({ uploadedBytes: bytes }))).rejects.toThrow(
      /chunk 1/,
    );
  });

  it("cannot prove an update whose norm is above the clip bound", async () => {
    const tight = c2 - 11n;
    await expect(
      proveUpdate({
        q,
        circuit: { n: N, bits: BITS },
        salt,
        context,
        c2: tight,
        srs,
        prover: prover.prove,
      }),
    ).rejects.toThrow(NormAboveBoundError);
    // Straight to the witness generator, bypassing the device's own check: the last chunk's
    // running bound fails inside the circuit.
    const { chunks } = await updateNormInputs({
      q,
      circuit: { n: N, bits: BITS },
      salt,
      context,
      c2: tight,
      srs,
    });
    await expect(prover.prove(chunks[2].input)).rejects.toThrow(ProofGenerationError);
    // A value outside the 16-bit range cannot even be range-checked.
    const wide = { ...chunks[0].input, values: [...(chunks[0].input.values as string[])] };
    (wide.values as string[])[0] = String(1 << BITS);
    await expect(prover.prove(wide)).rejects.toThrow(ProofGenerationError);
  });

  it("rejects an update sent without proofs, or with a chunk missing", async () => {
    await expect(verifyContribution(parameters({ proofs: [] }))).rejects.toThrow(ProofMissingError);
    const partial = proofs.slice(0, 2).map((p) => ({ circuitId: circuit.id, ...p }));
    await expect(verifyContribution(parameters({ proofs: partial }))).rejects.toThrow(
      ProofMissingError,
    );
  });

  it("rejects proofs replayed in the next round or by another device", async () => {
    await expect(
      verifyContribution(parameters({ expected: { ...context, round: context.round + 1, c2 } })),
    ).rejects.toThrow(ContextMismatchError);
    await expect(
      verifyContribution(parameters({ expected: { ...context, deviceId: "device-8", c2 } })),
    ).rejects.toThrow(ContextMismatchError);
    await expect(
      verifyContribution(
        parameters({ expected: { ...context, globalModelHash: "cd".repeat(32), c2 } }),
      ),
    ).rejects.toThrow(ContextMismatchError);
  });

  it("rejects proofs made against another clip bound, and reordered chunks", async () => {
    await expect(
      verifyContribution(parameters({ expected: { ...context, c2: c2 + 1n } })),
    ).rejects.toThrow(ClipBoundMismatchError);
    const swapped = [proofs[1], proofs[0], proofs[2]].map((p) => ({ circuitId: circuit.id, ...p }));
    await expect(verifyContribution(parameters({ proofs: swapped }))).rejects.toThrow(
      ContextMismatchError,
    );
  });

  it("rejects a proof whose public signals were edited to chain differently", async () => {
    const edited = proofs.map((p) => ({
      circuitId: circuit.id,
      proof: p.proof,
      publicSignals: [...p.publicSignals],
    }));
    edited[1].publicSignals[5] = "0"; // sumBefore
    await expect(verifyContribution(parameters({ proofs: edited }))).rejects.toThrow(
      ChunkChainError,
    );
  });

  it("rejects a tampered proof, and the batch check names the bad chunk", async () => {
    const tampered = proofs.map((p) => ({
      circuitId: circuit.id,
      proof: structuredClone(p.proof),
      publicSignals: p.publicSignals,
    }));
    // Swap A and C of chunk 2: both valid curve points, not a valid proof.
    [tampered[2].proof.pi_a, tampered[2].proof.pi_c] = [
      tampered[2].proof.pi_c,
      tampered[2].proof.pi_a,
    ];
    await expect(verifyContribution(parameters({ proofs: tampered }))).rejects.toThrow(
      ProofInvalidError,
    );
    await expect(verifyContribution(parameters({ proofs: tampered }))).rejects.toThrow(/chunk 2/);
    const batch = await batchVerifyGroth16(circuit.verificationKey, tampered);
    expect(batch).toEqual({ valid: false, invalid: [2], checks: "batch+individual" });
    expect(await batchVerifyGroth16(circuit.verificationKey, proofs)).toEqual({
      valid: true,
      invalid: [],
      checks: "batch",
    });
  });

  describe("KZG tie", () => {
    /** Chunk 0's honest witness, with the KZG commitment and challenge a forger picks. */
    async function forgedChunk0(
      forge: (honest: { coefficients: bigint[]; x: bigint }) => Promise<{
        commitment: `0x${string}`;
        x: bigint;
        coefficients: bigint[];
      }>,
    ) {
      const { chunks } = await updateNormInputs({
        q,
        circuit: { n: N, bits: BITS },
        salt,
        context,
        c2,
        srs,
        blindings,
      });
      const honest = chunks[0]!;
      const forged = await forge({
        coefficients: honest.kzg.coefficients,
        x: honest.kzg.challenge,
      });
      const proof = await prover.prove({ ...honest.input, kzgChallenge: forged.x.toString() });
      const opening = await kzgOpen(srs, forged.coefficients, forged.x);
      return {
        proofs: [proof, ...proofs.slice(1)].map((p) => ({ circuitId: circuit.id, ...p })),
        kzg: [
          { commitment: forged.commitment, opening: opening.proof, blinding: blindings[0]! },
          ...kzg.slice(1),
        ],
      };
    }

    it("refuses a KZG commitment to other values than the uploaded bytes", async () => {
      // The forger commits to q_0 + 1000 and derives x honestly from that commitment: the
      // challenge checks out, the commitment recomputed from the bytes does not.
      const forged = await forgedChunk0(async ({ coefficients }) => {
        const other = [toField(coefficients[0]! + 1000n), ...coefficients.slice(1)];
        const commitment = await kzgCommit(srs, other);
        const [c, , , ctx] = proofs[0]!.publicSignals.map(BigInt);
        const x = kzgChallenge({ context: ctx!, commitment: c!, kzgCommitment: commitment });
        return { commitment, x, coefficients: other };
      });
      const attempt = verifyContribution(parameters(forged));
      await expect(attempt).rejects.toThrow(KzgMismatchError);
      await expect(verifyContribution(parameters(forged))).rejects.toThrow(
        /uploaded bytes do not match the KZG commitment of chunk 0/,
      );
    });

    it("refuses a proof made for another challenge than the recomputed one", async () => {
      const forged = await forgedChunk0(async ({ coefficients, x }) => ({
        commitment: kzg[0]!.commitment,
        x: x + 1n,
        coefficients,
      }));
      await expect(verifyContribution(parameters(forged))).rejects.toThrow(KzgMismatchError);
      await expect(verifyContribution(parameters(forged))).rejects.toThrow(
        /chunk proof 0 was made for KZG challenge/,
      );
    });

    it("refuses a wrong opening, naming the chunk", async () => {
      const wrong = [kzg[0]!, { ...kzg[1]!, opening: kzg[2]!.opening }, kzg[2]!];
      await expect(verifyContribution(parameters({ kzg: wrong }))).rejects.toThrow(
        /KZG opening of chunk 1 does not show/,
      );
    });

    it("refuses a commitment swapped in from another chunk", async () => {
      const swapped = [{ ...kzg[0]!, commitment: kzg[1]!.commitment }, kzg[1]!, kzg[2]!];
      await expect(verifyContribution(parameters({ kzg: swapped }))).rejects.toThrow(
        /chunk proof 0 was made for KZG challenge/,
      );
      const both = [kzg[1]!, kzg[0]!, kzg[2]!];
      await expect(verifyContribution(parameters({ kzg: both }))).rejects.toThrow(KzgMismatchError);
    });

    it("refuses other blinding than the proofs committed to, and a missing chunk entry", async () => {
      const other = [{ ...kzg[0]!, blinding: [11n, 13n] as const }, kzg[1]!, kzg[2]!];
      await expect(verifyContribution(parameters({ kzg: other }))).rejects.toThrow(
        /do not match the commitment of chunk 0/,
      );
      await expect(verifyContribution(parameters({ kzg: kzg.slice(0, 2) }))).rejects.toThrow(
        /one KZG commitment per UpdateNorm chunk proof \(3\), got 2/,
      );
    });
  });

  it("produces proofs the stock snarkjs CLI verifies unchanged", () => {
    const dir = mkdtempSync(join(tmpdir(), "fedproof-cli-"));
    writeFileSync(join(dir, "proof.json"), JSON.stringify(proofs[0].proof));
    writeFileSync(join(dir, "public.json"), JSON.stringify(proofs[0].publicSignals));
    const cli = join(createRequire(import.meta.url).resolve("snarkjs"), "..", "cli.cjs");
    const run = spawnSync(
      process.execPath,
      [
        cli,
        "groth16",
        "verify",
        circuit.vkeyPath,
        join(dir, "public.json"),
        join(dir, "proof.json"),
      ],
      {
        encoding: "utf8",
      },
    );
    expect(run.stdout).toMatch(/OK!/);
    expect(run.status).toBe(0);
  });
});
