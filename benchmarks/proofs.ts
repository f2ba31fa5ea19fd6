/**
 * Proof costs: constraints per parameter, prove time and peak memory by model size, proving
 * key size, batched vs one-at-a-time verification, and the development setup time.
 *
 *   npx tsx benchmarks/proofs.ts                    # 1k, 4k, 16k, 64k at 16 and 8 bits
 *   npx tsx benchmarks/proofs.ts --quick            # 1k and 4k only
 *   npx tsx benchmarks/proofs.ts --sizes 1024,16384 --bits 16
 *   npx tsx benchmarks/proofs.ts --data-validity    # only the DataValidity table (k, attesters),
 *                                                   # merged into the existing proofs.json
 *   npx tsx benchmarks/proofs.ts --pipeline         # sequential snarkjs vs fedproof's prover
 *                                                   # pool on the same update, Fashion-MNIST
 *                                                   # enrolment; merged into proofs.json
 *     [--pipeline-bits 16,8] [--pipeline-chunks 4] [--enrol-records 15000]
 *
 * Writes benchmarks/results/proofs.json and proofs.md (proofs-quick.* with --quick). Builds (and caches) the production
 * chunk circuits with the INSECURE development setup: the costs are the same as with a
 * ceremony key; the keys are not fit for production.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { Field } from "@noble/curves/abstract/modular";
import { grainGenConstants, poseidon as noblePoseidon } from "@noble/curves/abstract/poseidon";
import * as snarkjs from "snarkjs";
import { buildCircuits, type CircuitArtifacts } from "../circuits/build.js";
import {
  type CircuitSpec,
  dataValidityCircuit,
  TEST_CIRCUITS,
  updateNormCircuit,
} from "../circuits/circuit-catalog.js";
import { dataValidityInputs } from "../client/core/proving/data-validity-inputs.js";
import { releaseSnarkjsThreads } from "../client/core/proving/release-snarkjs.js";
import { hashRecordLeaves } from "../client/node/dataset-leaves.js";
import { loadFashionMnist } from "../client/node/fashion-mnist.js";
import { createWorkerProver } from "../client/node/prove-worker.js";
import { createProverPool, estimateProofMemoryMB } from "../client/node/prover-pool.js";
import { verifyContribution } from "../coordinator/proofs/verify-contribution.js";
import { parameterCount } from "../protocol/model/parameter-count.js";
import { batchVerifyGroth16 } from "../protocol/proofs/batch-verify-groth16.js";
import { attestDataset, buildAttesterSet } from "../protocol/proving/attester-set.js";
import { DEFAULT_ATTESTER_DEPTH } from "../protocol/proving/data-validity-parameters.js";
import {
  commitDataset,
  encodeDataset,
  encodeRecord,
  recordLeaf,
} from "../protocol/proving/dataset-commitment.js";
import { derivePublicKey } from "../protocol/proving/eddsa-poseidon.js";
import { FIELD_MODULUS } from "../protocol/proving/field.js";
import { type KzgSrs, readSrsFromPtau } from "../protocol/proving/kzg.js";
import type { ProofWithSignals } from "../protocol/proving/prove-groth16.js";
import { proveUpdate, updateNormInputs } from "../protocol/proving/prove-update-norm.js";
import { spotCheckSoundnessError } from "../protocol/proving/spot-check.js";
import { packValues } from "../protocol/proving/update-commitment.js";
import { encodeUpdate, squaredNormQuantized } from "../protocol/update/quantize.js";
import {
  currentCommand,
  type FigureValue,
  isQuick,
  machineInfo,
  median,
  option,
  RESULTS_DIRECTORY,
  type ResultTable,
  renderTable,
  round,
  secondsSince,
  writeResults,
} from "./harness.js";

const quick = isQuick();
const bitWidths = option("bits", "16,8").split(",").map(Number);
const sizes = option("sizes", quick ? "1024,4096" : "1024,4096,16384,65536")
  .split(",")
  .map(Number);
const batchSize = Number(option("batch", "16"));
const context = {
  jobId: "bench",
  round: 1,
  globalModelHash: "ab".repeat(32),
  deviceId: "bench-device",
  roundSeed: "5e".repeat(32),
};

/** A deterministic update using the whole value range. */
function update(length: number, bits: number): Int32Array {
  const max = 2 ** (bits - 1) - 1;
  const q = new Int32Array(length);
  let state = 0x9e3779b9;
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) | 0;
    q[i] = Math.round(((state >>> 0) / 2 ** 32 - 0.5) * 2 * max);
  }
  return q;
}

function squaredNorm(q: Int32Array, _n: number, _bits: number): bigint {
  return squaredNormQuantized(q);
}

/** Peak resident memory of this process (worker and snarkjs threads included) while `fn` runs. */
async function withPeakMemory<T>(fn: () => Promise<T>): Promise<{ value: T; peakMB: number }> {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 50);
  try {
    const value = await fn();
    peak = Math.max(peak, process.memoryUsage.rss());
    return { value, peakMB: peak / 2 ** 20 };
  } finally {
    clearInterval(timer);
  }
}

/** The cold build CI pays for the test circuits: a fresh cache, so compile, ptau and keys. */
async function developmentSetup(): Promise<{ seconds: number; circuits: CircuitArtifacts[] }> {
  const cacheDir = mkdtempSync(join(tmpdir(), "fedproof-bench-dev-"));
  try {
    const started = performance.now();
    const { circuits } = await buildCircuits({
      dev: true,
      cacheDir,
      circuits: [TEST_CIRCUITS.updateNorm, TEST_CIRCUITS.dataValidity],
    });
    return { seconds: secondsSince(started), circuits };
  } finally {
    rmSync(cacheDir, { recursive: true, force: true });
  }
}

interface SizeResult {
  bits: number;
  parameters: number;
  chunks: number;
  proveSeconds: number;
  secondsPerChunk: number;
  peakMemoryMB: number;
  verifySeconds: number;
}

async function measureBits(
  bits: number,
): Promise<{ circuit: CircuitArtifacts; results: SizeResult[] }> {
  const { circuits, ptauPath } = await buildCircuits({
    dev: true,
    circuits: [updateNormCircuit(bits)],
  });
  const circuit = circuits[0];
  if (circuit.spec.kind !== "update-norm") throw new Error("unreachable");
  const n = circuit.spec.n;
  const srs = await readSrsFromPtau(ptauPath, n + 2);
  process.stdout.write(
    `${circuit.id}: ${circuit.constraints} constraints (${(circuit.constraints / n).toFixed(2)}/parameter), key ${(circuit.zkeyBytes / 2 ** 20).toFixed(1)} MB\n`,
  );
  const prover = await createWorkerProver({ wasm: circuit.wasmPath, zkey: circuit.zkeyPath });
  const results: SizeResult[] = [];
  try {
    // Warm-up: the worker's first proof also builds snarkjs's curve and thread pool.
    const warm = update(n, bits);
    await prover.prove(
      (
        await updateNormInputs({
          q: warm,
          circuit: { n, bits },
          salt: 1n,
          context,
          c2: squaredNorm(warm, n, bits),
          srs,
        })
      ).chunks[0]!.input,
    );
    for (const size of sizes) {
      const q = update(size, bits);
      const salt = 7n;
      const c2 = squaredNorm(q, n, bits);
      const started = performance.now();
      const { value, peakMB } = await withPeakMemory(() =>
        proveUpdate({ q, circuit: { n, bits }, salt, context, c2, srs, prover: prover.prove }),
      );
      const proveSeconds = secondsSince(started);
      const verifyStarted = performance.now();
      await verifyContribution({
        circuits: {
          updateNorm: {
            id: circuit.id,
            verificationKey: circuit.verificationKey,
            parameters: { n, bits },
            srs,
          },
        },
        proofs: value.proofs.map((p) => ({ circuitId: circuit.id, ...p })),
        expected: { ...context, c2 },
        uploadedBytes: encodeUpdate(q, bits),
        bits,
        paramCount: size,
        salt,
        kzg: value.kzg,
      });
      const verifySeconds = secondsSince(verifyStarted);
      const chunks = value.proofs.length;
      results.push({
        bits,
        parameters: size,
        chunks,
        proveSeconds,
        secondsPerChunk: proveSeconds / chunks,
        peakMemoryMB: peakMB,
        verifySeconds,
      });
      process.stdout.write(
        `${bits} bits, ${size} parameters: ${chunks} chunks in ${proveSeconds.toFixed(1)} s, peak ${peakMB.toFixed(0)} MB\n`,
      );
    }
  } finally {
    await prover.close();
  }
  return { circuit, results };
}

async function batchVerification(): Promise<{
  proofs: number;
  singleSeconds: number;
  batchSeconds: number;
  speedup: number;
}> {
  const built = await buildCircuits({ dev: true, circuits: [TEST_CIRCUITS.updateNorm] });
  const circuit = built.circuits[0]!;
  const srs: KzgSrs = await readSrsFromPtau(built.ptauPath, TEST_CIRCUITS.updateNorm.n + 2);
  const prover = await createWorkerProver({ wasm: circuit.wasmPath, zkey: circuit.zkeyPath });
  let proofs: ProofWithSignals[];
  try {
    const q = update(64 * batchSize, 16);
    proofs = (
      await proveUpdate({
        q,
        circuit: { n: 64, bits: 16 },
        salt: 1n,
        context,
        c2: squaredNorm(q, 64, 16),
        srs,
        prover: prover.prove,
      })
    ).proofs;
  } finally {
    await prover.close();
  }
  const vkey = circuit.verificationKey;
  await snarkjs.groth16.verify(vkey, proofs[0].publicSignals, proofs[0].proof); // warm-up
  await batchVerifyGroth16(vkey, proofs.slice(0, 2));
  const singleStarted = performance.now();
  for (const p of proofs) {
    if (!(await snarkjs.groth16.verify(vkey, p.publicSignals, p.proof)))
      throw new Error("snarkjs rejected a valid proof");
  }
  const singleSeconds = secondsSince(singleStarted);
  const batchStarted = performance.now();
  const result = await batchVerifyGroth16(vkey, proofs);
  const batchSeconds = secondsSince(batchStarted);
  if (!result.valid) throw new Error("the batch rejected valid proofs");
  return {
    proofs: proofs.length,
    singleSeconds,
    batchSeconds,
    speedup: singleSeconds / batchSeconds,
  };
}

/** Spot checks measured: the default k = 8, the test circuits' 2, and 16. */
const SPOT_CHECKS = [2, 8, 16];
/** Invalid fraction the soundness column is quoted at. */
const INVALID_FRACTION = 0.5;

interface DataValidityResult {
  id: string;
  samples: number;
  attesterDepth: number;
  constraints: number;
  domainPower: number;
  zkeyMB: number;
  setupSeconds: number;
  proveSeconds: number;
  /** (1 − f)^k at f = INVALID_FRACTION: the chance one round misses every bad record. */
  soundnessError: number;
}

/**
 * DataValidity cost by spot-check count k, without (attesterDepth 0) and with an attester
 * check (depth 10: 1,024 keys), on the test record shape (depth-6 tree, 8 byte features): the
 * per-record part of the cost grows with features and depth (see circuit-catalog.ts), the
 * attester part is fixed. Attested circuits are proven in attested mode.
 */
async function measureDataValidity(): Promise<DataValidityResult[]> {
  const shape = TEST_CIRCUITS.dataValidity;
  const encoding = { featureScale: 255, min: 0, max: 1 };
  const attesterKey = new Uint8Array(32).fill(21);
  const attesters = buildAttesterSet({
    keys: [attesterKey, ...[22, 23, 24].map((b) => new Uint8Array(32).fill(b))].map(
      derivePublicKey,
    ),
    depth: DEFAULT_ATTESTER_DEPTH,
  });
  const results: DataValidityResult[] = [];
  for (const samples of SPOT_CHECKS) {
    for (const attesterDepth of [0, DEFAULT_ATTESTER_DEPTH]) {
      const spec = { ...shape, samples, attesterDepth } as const satisfies CircuitSpec;
      const { circuits } = await buildCircuits({ dev: true, circuits: [spec] });
      const circuit = circuits[0]!;
      const records = Array.from({ length: 64 }, (_, i) =>
        encodeRecord(
          Array.from({ length: shape.features }, (_, f) => ((i * 31 + f * 17) % 256) / 255),
          i % 10,
          encoding,
        ),
      );
      const plain = commitDataset({
        parameters: spec,
        records,
        privateKey: new Uint8Array(32).fill(5),
      });
      const dataset = {
        ...plain,
        attestation: attestDataset({
          privateKey: attesterKey,
          root: plain.tree.root,
          sampleCount: plain.sampleCount,
        }),
      };
      const { input } = dataValidityInputs({
        dataset,
        context,
        minSamples: 1,
        featureMin: 0n,
        featureMax: 255n,
        classes: 10,
        attesterSet: attesterDepth > 0 ? attesters : undefined,
      });
      const prover = await createWorkerProver({
        wasm: circuit.wasmPath,
        zkey: circuit.zkeyPath,
      });
      let proveSeconds: number;
      try {
        await prover.prove(input); // warm-up: curve and thread pool
        // The median of three: a shared machine makes single proofs swing by 2×.
        const times: number[] = [];
        for (let i = 0; i < 3; i++) {
          const started = performance.now();
          await prover.prove(input);
          times.push(secondsSince(started));
        }
        proveSeconds = median(times);
      } finally {
        await prover.close();
      }
      const result: DataValidityResult = {
        id: circuit.id,
        samples,
        attesterDepth,
        constraints: circuit.constraints,
        domainPower: circuit.domainPower,
        zkeyMB: round(circuit.zkeyBytes / 2 ** 20, 1),
        setupSeconds: round(circuit.setupSeconds, 1),
        proveSeconds: round(proveSeconds, 2),
        soundnessError: spotCheckSoundnessError(samples, INVALID_FRACTION),
      };
      results.push(result);
      process.stdout.write(
        `${circuit.id}: ${circuit.constraints} constraints, proven in ${result.proveSeconds} s\n`,
      );
    }
  }
  return results;
}

function dataValiditySummary(results: readonly DataValidityResult[]): Record<string, FigureValue> {
  const summary: Record<string, FigureValue> = {};
  for (const k of SPOT_CHECKS) {
    const plain = results.find((r) => r.samples === k && r.attesterDepth === 0);
    const attested = results.find((r) => r.samples === k && r.attesterDepth > 0);
    summary[`dataValidityK${k}Constraints`] = plain?.constraints ?? null;
    summary[`dataValidityK${k}AttestedConstraints`] = attested?.constraints ?? null;
    summary[`dataValidityK${k}ProveSeconds`] = plain?.proveSeconds ?? null;
    summary[`dataValidityK${k}AttestedProveSeconds`] = attested?.proveSeconds ?? null;
    summary[`spotCheckErrorK${k}`] = spotCheckSoundnessError(k, INVALID_FRACTION);
  }
  return summary;
}

function dataValidityTable(results: readonly DataValidityResult[]): ResultTable {
  return {
    title: "DataValidity by spot checks k and attester check (test record shape)",
    columns: [
      "k",
      "attester depth",
      "constraints",
      "domain",
      "key MB",
      "prove s",
      `error at f = ${INVALID_FRACTION}`,
    ],
    rows: results.map((r) => [
      r.samples,
      r.attesterDepth,
      r.constraints,
      `2^${r.domainPower}`,
      r.zkeyMB,
      r.proveSeconds,
      `1/${Math.round(1 / r.soundnessError)}`,
    ]),
    note: "Depth-6 record tree, 8 byte features per record, one worker thread, median of 3 proofs after a warm-up, development keys. Attester depth 0 = no attester check compiled (self-attested only); 10 = up to 1,024 attester keys, proven in attested mode. Error = (1 − f)^k, the chance one round's k records all miss a fraction f of bad records.",
  };
}

/**
 * `--data-validity`: measures only the DataValidity table and merges it into the existing
 * proofs.json (summary figures added, every other figure kept) and proofs.md.
 */
async function mainDataValidity(): Promise<void> {
  const results = await measureDataValidity();
  const name = quick ? "proofs-quick" : "proofs";
  const jsonPath = join(RESULTS_DIRECTORY, `${name}.json`);
  const markdownPath = join(RESULTS_DIRECTORY, `${name}.md`);
  const existing = existsSync(jsonPath)
    ? (JSON.parse(readFileSync(jsonPath, "utf8")) as Record<string, unknown>)
    : { name };
  const merged = {
    ...existing,
    summary: {
      ...((existing.summary as Record<string, FigureValue> | undefined) ?? {}),
      ...dataValiditySummary(results),
    },
    dataValidity: {
      date: new Date().toISOString(),
      command: currentCommand(),
      machine: machineInfo(),
      invalidFraction: INVALID_FRACTION,
      circuits: results,
    },
  };
  writeFileSync(jsonPath, `${JSON.stringify(merged, null, 2)}\n`);
  const table = renderTable(dataValidityTable(results));
  const markdown = existsSync(markdownPath) ? readFileSync(markdownPath, "utf8") : "";
  const heading = `## ${dataValidityTable(results).title}`;
  const start = markdown.indexOf(heading);
  const end = start < 0 ? -1 : markdown.indexOf("\n## ", start + heading.length);
  const updated =
    start < 0
      ? `${markdown.trimEnd()}\n\n${table}`
      : `${markdown.slice(0, start)}${table}${end < 0 ? "" : markdown.slice(end + 1)}`;
  writeFileSync(markdownPath, updated);
  process.stdout.write(`${table}\nmerged into ${jsonPath} and ${markdownPath}\n`);
}

async function main(): Promise<void> {
  const dev = await developmentSetup();
  process.stdout.write(`development setup of the test circuits: ${dev.seconds.toFixed(1)} s\n`);
  const measured: { circuit: CircuitArtifacts; results: SizeResult[] }[] = [];
  for (const bits of bitWidths) measured.push(await measureBits(bits));
  const batch = await batchVerification();
  const dataValidity = await measureDataValidity();

  const at = (bits: number) =>
    measured.find((m) => m.circuit.spec.kind === "update-norm" && m.circuit.spec.bits === bits);
  const perParam = (bits: number): FigureValue => {
    const m = at(bits);
    return m && m.circuit.spec.kind === "update-norm"
      ? round(m.circuit.constraints / m.circuit.spec.n, 2)
      : null;
  };
  const prove = (bits: number, size: number): FigureValue => {
    const r = at(bits)?.results.find((x) => x.parameters === size);
    return r ? round(r.proveSeconds, 2) : null;
  };
  const peak = (bits: number, size: number): FigureValue => {
    const r = at(bits)?.results.find((x) => x.parameters === size);
    return r ? round(r.peakMemoryMB, 0) : null;
  };
  const summary: Record<string, FigureValue> = {
    constraintsPerParam: perParam(16),
    constraintsPerParamAt8Bits: perParam(8),
    prove16kSeconds: prove(16, 16384),
    prove64kSeconds: prove(16, 65536),
    prove64kPeakMemoryMB: peak(16, 65536),
    prove16kSecondsAt8Bits: prove(8, 16384),
    prove64kSecondsAt8Bits: prove(8, 65536),
    provingKeyMB: round(Math.max(...measured.map((m) => m.circuit.zkeyBytes)) / 2 ** 20, 1),
    batchVerifySpeedup: round(batch.speedup, 2),
    devSetupSeconds: round(dev.seconds, 1),
    ...dataValiditySummary(dataValidity),
  };
  const circuitRow = (c: CircuitArtifacts): (string | number)[] => [
    c.id,
    c.constraints,
    c.spec.kind === "update-norm" ? round(c.constraints / c.spec.n, 2) : "",
    `2^${c.domainPower}`,
    round(c.zkeyBytes / 2 ** 20, 1),
    round(c.compileSeconds, 1),
    round(c.setupSeconds, 1),
  ];
  // Smoke runs go to proofs-quick.* (ignored by git); only full runs replace proofs.*.
  writeResults(
    quick ? "proofs-quick" : "proofs",
    {
      summary,
      sizes: measured.flatMap((m) => m.results),
      circuits: measured.map(({ circuit: c }) => ({
        id: c.id,
        spec: c.spec,
        constraints: c.constraints,
        domainPower: c.domainPower,
        zkeyBytes: c.zkeyBytes,
        compileSeconds: c.compileSeconds,
        setupSeconds: c.setupSeconds,
        insecureDevelopmentKey: c.insecure,
      })),
      batchVerification: batch,
      dataValidity: { invalidFraction: INVALID_FRACTION, circuits: dataValidity },
      developmentSetup: {
        seconds: dev.seconds,
        circuits: dev.circuits.map((c) => ({
          id: c.id,
          constraints: c.constraints,
          compileSeconds: c.compileSeconds,
          setupSeconds: c.setupSeconds,
        })),
      },
    },
    [
      {
        title: "Proving an update (production chunk circuits, one worker thread)",
        columns: ["bits", "parameters", "chunks", "prove s", "s / chunk", "peak MB", "verify ms"],
        rows: measured.flatMap((m) =>
          m.results.map((r) => [
            r.bits,
            r.parameters,
            r.chunks,
            round(r.proveSeconds, 2),
            round(r.secondsPerChunk, 2),
            round(r.peakMemoryMB, 0),
            round(r.verifySeconds * 1000, 0),
          ]),
        ),
        note: "Chunks are proven one after the other; every size proves whole chunks (the last padded). Peak memory is the resident set of the whole process. Verify = signal checks, commitments recomputed over the bytes, one batched pairing check.",
      },
      {
        title: "Circuits (development setup)",
        columns: [
          "circuit",
          "constraints",
          "per parameter",
          "domain",
          "key MB",
          "compile s",
          "setup s",
        ],
        rows: [...measured.map((m) => circuitRow(m.circuit)), ...dev.circuits.map(circuitRow)],
        note: "Setup = snarkjs zkey new + one beacon contribution on the development powers of tau; the ptau itself is built once per power and cached.",
      },
      dataValidityTable(dataValidity),
      {
        title: `Verifying ${batch.proofs} proofs`,
        columns: ["method", "total ms", "per proof ms"],
        rows: [
          [
            "snarkjs groth16.verify, one at a time",
            round(batch.singleSeconds * 1000, 1),
            round((batch.singleSeconds * 1000) / batch.proofs, 2),
          ],
          [
            "batchVerifyGroth16, one multi-pairing",
            round(batch.batchSeconds * 1000, 1),
            round((batch.batchSeconds * 1000) / batch.proofs, 2),
          ],
        ],
      },
    ],
  );
}

/** `--pipeline`: chunks proven per update in the sequential-vs-pool comparison. */
const pipelineChunks = Number(option("pipeline-chunks", "4"));
const pipelineBits = option("pipeline-bits", "16").split(",").filter(Boolean).map(Number);
const pipelineRepeats = Number(option("pipeline-repeats", "2"));
const skipEnrolment = process.argv.includes("--skip-enrolment");
const enrolRecords = Number(option("enrol-records", "15000"));
/** One epoch over the enrolment dataset is the round's local training in the ratio below. */
const FMNIST_SCHEMA = { featureShape: [28, 28, 1], classes: 10 } as const;

interface PipelineResult {
  bits: number;
  circuitId: string;
  n: number;
  constraints: number;
  chunks: number;
  poolSize: number;
  estimatedProofMemoryMB: number;
  repeats: number;
  sequentialRunSeconds: number[];
  pooledRunSeconds: number[];
  /** Mean over the repeats. */
  sequentialSeconds: number;
  pooledSeconds: number;
  speedup: number;
  sequentialPeakMemoryMB: number;
  pooledPeakMemoryMB: number;
  identicalPublicSignals: boolean;
  pooledProofsVerified: boolean;
}

/**
 * The same update proven twice in one run: (a) plain snarkjs `groth16.fullProve` on this
 * thread, one chunk after another (what a device did before the pool; snarkjs spreads the
 * MSMs and FFTs of each proof over its own thread pool), and (b) fedproof's prover pool
 * (`createProverPool`: one single-threaded worker per core within the memory budget, key and
 * witness generator loaded once). Both warm up first.
 */
async function measurePipeline(bits: number): Promise<PipelineResult> {
  const { circuits, ptauPath } = await buildCircuits({
    dev: true,
    circuits: [updateNormCircuit(bits)],
  });
  const circuit = circuits[0]!;
  if (circuit.spec.kind !== "update-norm") throw new Error("unreachable");
  const n = circuit.spec.n;
  const srs = await readSrsFromPtau(ptauPath, n + 2);
  const q = update(pipelineChunks * n, bits);
  const salt = 7n;
  const c2 = squaredNorm(q, n, bits);
  // Fixed KZG blindings, so that both paths prove the same statements (devices draw fresh ones).
  const blindings = Array.from(
    { length: pipelineChunks },
    (_, i) => [BigInt(2 * i + 1), BigInt(2 * i + 2)] as const,
  );
  const { chunks } = await updateNormInputs({
    q,
    circuit: { n, bits },
    salt,
    context,
    c2,
    srs,
    blindings,
  });
  const wasm = new Uint8Array(readFileSync(circuit.wasmPath));
  const zkey = new Uint8Array(readFileSync(circuit.zkeyPath));
  const plain = (input: (typeof chunks)[number]["input"]) =>
    snarkjs.groth16.fullProve(input, { type: "mem", data: wasm }, { type: "mem", data: zkey });
  const pool = await createProverPool({ wasm, zkey });
  try {
    await plain(chunks[0]!.input);
    await Promise.all(Array.from({ length: pool.size }, () => pool.prove(chunks[0]!.input)));
    const runSequential = async () => {
      const started = performance.now();
      const { value, peakMB } = await withPeakMemory(async () => {
        const out: ProofWithSignals[] = [];
        for (const chunk of chunks) out.push(await plain(chunk.input));
        return out;
      });
      return { seconds: secondsSince(started), proofs: value, peakMB };
    };
    const runPooled = async () => {
      const started = performance.now();
      const { value, peakMB } = await withPeakMemory(() =>
        proveUpdate({
          q,
          circuit: { n, bits },
          salt,
          context,
          c2,
          srs,
          blindings,
          prover: pool.prove,
          concurrency: pool.size,
        }),
      );
      return { seconds: secondsSince(started), proofs: value.proofs, peakMB };
    };
    // A-B-B-A: the machine's load drifts while we measure; alternating the order cancels a
    // linear drift out of the ratio of the totals.
    const sequentialRuns: Awaited<ReturnType<typeof runSequential>>[] = [];
    const pooledRuns: Awaited<ReturnType<typeof runPooled>>[] = [];
    for (let repeat = 0; repeat < pipelineRepeats; repeat++) {
      if (repeat % 2 === 0) {
        sequentialRuns.push(await runSequential());
        pooledRuns.push(await runPooled());
      } else {
        pooledRuns.push(await runPooled());
        sequentialRuns.push(await runSequential());
      }
      process.stdout.write(
        `${bits} bits, ${chunks.length} chunks, repeat ${repeat + 1}: sequential ${sequentialRuns.at(-1)!.seconds.toFixed(1)} s, pool of ${pool.size} ${pooledRuns.at(-1)!.seconds.toFixed(1)} s (load ${loadavg()[0]!.toFixed(1)})\n`,
      );
    }
    const sequentialSeconds = sequentialRuns.reduce((a, r) => a + r.seconds, 0) / pipelineRepeats;
    const pooledSeconds = pooledRuns.reduce((a, r) => a + r.seconds, 0) / pipelineRepeats;
    const pooled = pooledRuns[0]!.proofs;
    const verified = await batchVerifyGroth16(circuit.verificationKey, pooled);
    return {
      bits,
      circuitId: circuit.id,
      n,
      constraints: circuit.constraints,
      chunks: chunks.length,
      poolSize: pool.size,
      estimatedProofMemoryMB: estimateProofMemoryMB(zkey.byteLength),
      repeats: pipelineRepeats,
      sequentialRunSeconds: sequentialRuns.map((r) => r.seconds),
      pooledRunSeconds: pooledRuns.map((r) => r.seconds),
      sequentialSeconds,
      pooledSeconds,
      speedup: sequentialSeconds / pooledSeconds,
      sequentialPeakMemoryMB: Math.max(...sequentialRuns.map((r) => r.peakMB)),
      pooledPeakMemoryMB: Math.max(...pooledRuns.map((r) => r.peakMB)),
      identicalPublicSignals:
        JSON.stringify(pooled.map((p) => p.publicSignals)) ===
        JSON.stringify(sequentialRuns[0]!.proofs.map((p) => p.publicSignals)),
      pooledProofsVerified: verified.valid,
    };
  } finally {
    await pool.close();
  }
}

/** The textbook sponge (noble's round-by-round permutation): the leaf hash before this change. */
function nobleSponge(): (elements: readonly bigint[]) => bigint {
  const Fp = Field(FIELD_MODULUS);
  const options = { Fp, t: 17, roundsFull: 8, roundsPartial: 68, sboxPower: 5 };
  const permute = noblePoseidon({ ...options, ...grainGenConstants(options) });
  return (elements) => {
    let state: bigint[] = new Array(17).fill(0n);
    state[0] = BigInt(elements.length);
    for (let start = 0; start < elements.length; start += 16) {
      for (let j = 0; j < 16; j++) {
        const element = elements[start + j];
        if (element !== undefined) state[j + 1] = Fp.add(state[j + 1]!, Fp.create(element));
      }
      state = permute(state);
    }
    return state[0]!;
  };
}

interface EnrolmentResult {
  records: number;
  features: number;
  encodeSeconds: number;
  commitSeconds: number;
  witnessInputSeconds: number;
  enrolSeconds: number;
  /** CPU seconds of the same work: what the machine's load does not inflate. */
  enrolCpuSeconds: number;
  leafMs: number;
  nobleLeafMs: number;
  leafSpeedup: number;
  peakMemoryMB: number;
}

/**
 * A device's enrolment on Fashion-MNIST: encode the records, hash every leaf, build the
 * depth-16 Merkle tree, sign the commitment, then one round's DataValidity witness input
 * (k = 2 openings; the tree is reused, not rebuilt). The leaf hash is also timed with noble's
 * textbook permutation on the same records, in the same run.
 */
async function measureEnrolment(): Promise<EnrolmentResult> {
  const data = await loadFashionMnist({ split: "train", limit: enrolRecords });
  const parameters = dataValidityCircuit({ features: 784, samples: 2 });
  if (parameters.kind !== "data-validity") throw new Error("unreachable");
  const cpuBefore = process.cpuUsage();
  const { value, peakMB } = await withPeakMemory(async () => {
    let started = performance.now();
    const records = encodeDataset(data, { featureScale: 255, min: 0, max: 1 });
    const encodeSeconds = secondsSince(started);
    started = performance.now();
    // What DeviceProver.create does: the leaves on every core, then the tree in this thread.
    const leaves = await hashRecordLeaves({ records, parameters });
    const dataset = commitDataset({
      parameters,
      records,
      leaves,
      privateKey: new Uint8Array(32).fill(9),
    });
    const commitSeconds = secondsSince(started);
    started = performance.now();
    dataValidityInputs({
      dataset,
      context,
      minSamples: 1,
      featureMin: 0n,
      featureMax: 255n,
      classes: 10,
    });
    const witnessInputSeconds = secondsSince(started);
    return { records, encodeSeconds, commitSeconds, witnessInputSeconds };
  });
  const cpu = process.cpuUsage(cpuBefore);
  const enrolCpuSeconds = (cpu.user + cpu.system) / 1e6;
  const sample = value.records.slice(0, 40);
  let started = performance.now();
  for (const record of sample) recordLeaf(record, parameters);
  const leafMs = (secondsSince(started) * 1000) / sample.length;
  const sponge = nobleSponge();
  started = performance.now();
  for (const record of sample) {
    sponge([BigInt(record.label), ...packValues(record.values, parameters.featureBits)]);
  }
  const nobleLeafMs = (secondsSince(started) * 1000) / sample.length;
  const enrolSeconds = value.encodeSeconds + value.commitSeconds + value.witnessInputSeconds;
  process.stdout.write(
    `enrolment, ${data.size} Fashion-MNIST records: ${enrolSeconds.toFixed(1)} s (leaf ${leafMs.toFixed(2)} ms, noble ${nobleLeafMs.toFixed(2)} ms)\n`,
  );
  return {
    records: data.size,
    features: 784,
    encodeSeconds: value.encodeSeconds,
    commitSeconds: value.commitSeconds,
    witnessInputSeconds: value.witnessInputSeconds,
    enrolSeconds,
    enrolCpuSeconds,
    leafMs,
    nobleLeafMs,
    leafSpeedup: nobleLeafMs / leafMs,
    peakMemoryMB: peakMB,
  };
}

/** Local training seconds per round: one epoch over the enrolment dataset (training.json rates). */
function trainingSecondsPerRound(preset: "mlp" | "cnn"): number | null {
  const path = join(RESULTS_DIRECTORY, "training.json");
  if (!existsSync(path)) return null;
  const summary = (JSON.parse(readFileSync(path, "utf8")) as { summary?: Record<string, number> })
    .summary;
  const rate = summary?.[preset === "mlp" ? "wasmMlpSamplesPerSec" : "wasmCnnSamplesPerSec"];
  return rate ? enrolRecords / rate : null;
}

/**
 * `--pipeline`: sequential snarkjs vs the prover pool on the same update, the per-model
 * extrapolation (every model proves whole chunks, so its time is ⌈P/n⌉ × the measured per-chunk
 * time), and the Fashion-MNIST enrolment; merged into proofs.json and proofs.md.
 */
async function mainPipeline(): Promise<void> {
  const load = machineInfo().loadAverageAtStart;
  const enrolment = skipEnrolment ? undefined : await measureEnrolment();
  const pipeline: PipelineResult[] = [];
  for (const bits of pipelineBits) pipeline.push(await measurePipeline(bits));
  const models = (["mlp", "cnn"] as const).map((preset) => ({
    preset,
    parameters: parameterCount(preset, FMNIST_SCHEMA),
    trainSeconds: trainingSecondsPerRound(preset),
  }));
  const extrapolated = pipeline.flatMap((r) =>
    models.map((m) => {
      const chunks = Math.ceil(m.parameters / r.n);
      const pooled = (r.pooledSeconds / r.chunks) * chunks;
      const sequential = (r.sequentialSeconds / r.chunks) * chunks;
      return {
        preset: m.preset,
        parameters: m.parameters,
        bits: r.bits,
        chunks,
        proveSeconds: pooled,
        sequentialProveSeconds: sequential,
        trainSeconds: m.trainSeconds,
        proveOverTrain: m.trainSeconds ? pooled / m.trainSeconds : null,
      };
    }),
  );
  const at = (bits: number) => pipeline.find((r) => r.bits === bits);
  const model = (preset: string, bits: number) =>
    extrapolated.find((e) => e.preset === preset && e.bits === bits);
  const summary: Record<string, FigureValue> = {
    pipelineSpeedup: at(16) ? round(at(16)!.speedup, 2) : null,
    pipelineSpeedupAt8Bits: at(8) ? round(at(8)!.speedup, 2) : null,
    pipelinePoolSize: pipeline[0]?.poolSize ?? null,
    proveMlpSeconds: model("mlp", 16) ? round(model("mlp", 16)!.proveSeconds, 1) : null,
    proveMlpSecondsAt8Bits: model("mlp", 8) ? round(model("mlp", 8)!.proveSeconds, 1) : null,
    proveMlpSecondsExtrapolated: pipeline.length ? true : null,
    proveMlpOverTrainSeconds:
      model("mlp", 16)?.proveOverTrain != null ? round(model("mlp", 16)!.proveOverTrain!, 1) : null,
    proveCnnOverTrainSeconds:
      model("cnn", 16)?.proveOverTrain != null ? round(model("cnn", 16)!.proveOverTrain!, 1) : null,
    provePeakMemoryMB: pipeline.length
      ? round(Math.max(...pipeline.map((r) => r.pooledPeakMemoryMB)), 0)
      : null,
  };
  if (enrolment) {
    summary.enrolFmnistSeconds = round(enrolment.enrolSeconds, 1);
    summary.enrolFmnistCpuSeconds = round(enrolment.enrolCpuSeconds, 1);
    summary.enrolFmnistLeafSpeedup = round(enrolment.leafSpeedup, 1);
  }
  const pipelineTable: ResultTable = {
    title: "Proving pipeline: plain snarkjs in sequence vs the prover pool (same update, same run)",
    columns: [
      "bits",
      "chunk n",
      "chunks",
      "sequential s",
      "pool s",
      "workers",
      "speedup",
      "peak MB seq / pool",
      "signals equal",
    ],
    rows: pipeline.map((r) => [
      r.bits,
      r.n,
      r.chunks,
      round(r.sequentialSeconds, 1),
      round(r.pooledSeconds, 1),
      r.poolSize,
      round(r.speedup, 2),
      `${round(r.sequentialPeakMemoryMB, 0)} / ${round(r.pooledPeakMemoryMB, 0)}`,
      r.identicalPublicSignals && r.pooledProofsVerified ? "yes, all verify" : "NO",
    ]),
    note: `${availableParallelism()} cores, load average ${load.toFixed(1)} at start, ${loadavg()[0]!.toFixed(1)} at end (other work shares the machine; compare the ratio). Times are the mean of ${pipelineRepeats} runs each, in A-B-B-A order so that a drifting load slows both alike. Sequential = snarkjs groth16.fullProve on the main thread, one chunk after another (its MSMs and FFTs use snarkjs's own thread pool). Pool = createProverPool: one single-threaded worker per core within the memory budget (${PROVER_MEMORY_NOTE}), key and witness generator loaded once per worker. Both warmed up. Peak = resident set of the whole process.`,
  };
  const modelTable: ResultTable = {
    title: "Per-round proving by model (EXTRAPOLATED from the measured per-chunk time)",
    columns: [
      "model",
      "parameters",
      "bits",
      "chunks",
      "pool s",
      "sequential s",
      "train s",
      "prove / train",
    ],
    rows: extrapolated.map((e) => [
      e.preset,
      e.parameters,
      e.bits,
      e.chunks,
      round(e.proveSeconds, 1),
      round(e.sequentialProveSeconds, 1),
      e.trainSeconds === null ? "" : round(e.trainSeconds, 1),
      e.proveOverTrain === null ? "" : round(e.proveOverTrain, 1),
    ]),
    note: `Every model proves whole chunks, so prove time = ⌈P/n⌉ × the per-chunk time measured above at the same load (not a measurement of the full model). Train = one epoch over ${enrolRecords} Fashion-MNIST records at the wasm backend's rate in training.json (mlp ${models[0]?.trainSeconds ? round(enrolRecords / models[0].trainSeconds, 0) : "?"}, cnn ${models[1]?.trainSeconds ? round(enrolRecords / models[1].trainSeconds, 0) : "?"} samples/s).`,
  };
  const enrolmentTable: ResultTable | undefined = enrolment && {
    title: "Enrolment on Fashion-MNIST (commit the dataset, one DataValidity witness input)",
    columns: [
      "records",
      "encode s",
      "leaves + tree + signature s",
      "witness input s",
      "total s",
      "CPU s",
      "leaf ms",
      "leaf ms, textbook Poseidon",
      "peak MB",
    ],
    rows: [
      [
        enrolment.records,
        round(enrolment.encodeSeconds, 2),
        round(enrolment.commitSeconds, 1),
        round(enrolment.witnessInputSeconds, 2),
        round(enrolment.enrolSeconds, 1),
        round(enrolment.enrolCpuSeconds, 1),
        round(enrolment.leafMs, 2),
        round(enrolment.nobleLeafMs, 2),
        round(enrolment.peakMemoryMB, 0),
      ],
    ],
    note: `784 byte features per record, depth-16 tree, DataValidity k = 2. A leaf is one width-17 sponge over [label, 26 packed elements] (2 permutations of fedproof's WebAssembly Poseidon, protocol/proving/poseidon-wasm.ts), hashed on ${availableParallelism()} worker threads as DeviceProver does (hashRecordLeaves), the tree and signature in the main thread; CPU s counts every thread and is what a busy machine does not inflate (total s is wall time, shared with the load). The textbook column hashes the same records with noble's round-by-round BigInt permutation in the same run (speedup ${round(enrolment.leafSpeedup, 1)}×). Load average ${load.toFixed(1)} at start. The circuit's witness generation for this shape is not measured (its 2^16 key was not built here).`,
  };
  // A run of only one part (--skip-enrolment, --pipeline-bits "") keeps the other's figures.
  mergeResults(
    Object.fromEntries(Object.entries(summary).filter(([, v]) => v !== null)),
    {
      ...(pipeline.length ? { pipeline, extrapolated } : {}),
      ...(enrolment ? { enrolment } : {}),
    },
    [pipelineTable, modelTable, ...(enrolmentTable ? [enrolmentTable] : [])].filter(
      (t) => t.rows.length > 0,
    ),
  );
}

const PROVER_MEMORY_NOTE = "default half the RAM, FEDPROOF_PROVER_MEMORY_MB to set it";

/** Merges summary figures and sections into proofs.json (nothing deleted) and tables into proofs.md. */
function mergeResults(
  summary: Record<string, FigureValue>,
  sections: Record<string, unknown>,
  tables: ResultTable[],
): void {
  const name = quick ? "proofs-quick" : "proofs";
  const jsonPath = join(RESULTS_DIRECTORY, `${name}.json`);
  const markdownPath = join(RESULTS_DIRECTORY, `${name}.md`);
  const existing = existsSync(jsonPath)
    ? (JSON.parse(readFileSync(jsonPath, "utf8")) as Record<string, unknown>)
    : { name };
  const merged = {
    ...existing,
    summary: {
      ...((existing.summary as Record<string, FigureValue> | undefined) ?? {}),
      ...summary,
    },
    ...Object.fromEntries(
      Object.entries(sections).map(([key, value]) => [
        key,
        {
          date: new Date().toISOString(),
          command: currentCommand(),
          machine: machineInfo(),
          value,
        },
      ]),
    ),
  };
  writeFileSync(jsonPath, `${JSON.stringify(merged, null, 2)}\n`);
  let markdown = existsSync(markdownPath) ? readFileSync(markdownPath, "utf8") : "";
  for (const table of tables) {
    const rendered = renderTable(table);
    const heading = `## ${table.title}`;
    const start = markdown.indexOf(heading);
    const end = start < 0 ? -1 : markdown.indexOf("\n## ", start + heading.length);
    markdown =
      start < 0
        ? `${markdown.trimEnd()}\n\n${rendered}`
        : `${markdown.slice(0, start)}${rendered}${end < 0 ? "" : `\n${markdown.slice(end + 1)}`}`;
  }
  writeFileSync(markdownPath, markdown);
  process.stdout.write(
    `${tables.map(renderTable).join("\n")}\nmerged into ${jsonPath} and ${markdownPath}\n`,
  );
}

try {
  if (process.argv.includes("--data-validity")) await mainDataValidity();
  else if (process.argv.includes("--pipeline")) await mainPipeline();
  else await main();
} finally {
  await releaseSnarkjsThreads();
}
