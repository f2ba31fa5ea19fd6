/**
 * Costs of verifiable aggregation's KZG contribution commitments (issue 11):
 * (a) the device's extra time per round to commit to and open every chunk of its update, at
 *     16,384 and 65,536 parameters, against the Groth16 proof time of the same update
 *     (target ≤ 15 %);
 * (b) a verifier's time per round for 10 contributions of 200,000 parameters: the weighted
 *     sums Σ w_i·C_i per chunk, the commitment of the aggregate S per chunk, and one batched
 *     check of every opening.
 *
 *   npx tsx benchmarks/aggregation.ts            # as above, 3 repeats of (a)
 *   npx tsx benchmarks/aggregation.ts --quick    # (a) once; (b) with 3 contributions of 20,000
 *
 * Writes benchmarks/results/aggregation.json and aggregation.md (aggregation-quick.* with
 * --quick). Summary figures this benchmark does not produce (the chain benchmark's
 * `disputeGas`) are kept from the existing file. The SRS comes from the cached INSECURE
 * development powers of tau (or a fresh one): costs are the same with a ceremony file.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cacheRoot } from "../circuits/artifact-cache.js";
import { updateNormCircuit } from "../circuits/circuit-catalog.js";
import { writeDevPowersOfTau } from "../circuits/dev-powers-of-tau.js";
import { releaseSnarkjsThreads } from "../client/core/proving/release-snarkjs.js";
import { FIELD_MODULUS } from "../protocol/proving/field.js";
import {
  type G1Hex,
  type KzgOpening,
  type KzgSrs,
  kzgCommit,
  kzgLinearCombination,
  kzgOpen,
  kzgVerifyBatch,
  readSrsFromPtau,
  toField,
} from "../protocol/proving/kzg.js";
import { kzgChallenge } from "../protocol/proving/kzg-challenge.js";
import {
  type FigureValue,
  isQuick,
  median,
  RESULTS_DIRECTORY,
  type ResultTable,
  resultsName,
  round,
  secondsSince,
  writeResults,
} from "./harness.js";

const quick = isQuick();
const BITS = 16;
const DEVICE_SIZES = [16_384, 65_536];
const DEVICE_REPEATS = quick ? 1 : 3;
const CONTRIBUTIONS = quick ? 3 : 10;
const CONTRIBUTION_PARAMETERS = quick ? 20_000 : 200_000;
const SHARE_TARGET = 0.15;

const chunkSize = (() => {
  const spec = updateNormCircuit(BITS);
  if (spec.kind !== "update-norm") throw new Error("updateNormCircuit returned another circuit");
  return spec.n;
})();
const srsSize = chunkSize + 2;

/**
 * A cached development ptau with at least srsSize G1 powers (the build cache's, when a
 * circuit build made one), else a fresh unprepared one in a temporary directory.
 */
async function ptauPath(): Promise<{ path: string; source: string; cleanup: () => void }> {
  const neededPower = Math.ceil(Math.log2(srsSize + 1)) - 1;
  for (let p = neededPower; p <= 24; p++) {
    const path = join(cacheRoot(), "ptau", `dev-insecure-p${p}.ptau`);
    if (existsSync(`${path}.json`)) return { path, source: `cache p${p}`, cleanup: () => {} };
  }
  const dir = mkdtempSync(join(tmpdir(), "fedproof-bench-kzg-"));
  const path = join(dir, `dev-p${neededPower}.ptau`);
  await writeDevPowersOfTau({ power: neededPower, path, prepared: false });
  return {
    path,
    source: `generated p${neededPower}`,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

function randomScalar(): bigint {
  const bytes = new Uint8Array(32);
  globalThis.crypto.getRandomValues(bytes);
  let v = 0n;
  for (const byte of bytes) v = (v << 8n) | BigInt(byte);
  return v % FIELD_MODULUS;
}

/** Uniform signed 16-bit values: the widest a 16-bit quantised chunk can be. */
function randomValues(count: number): bigint[] {
  const half = 2 ** (BITS - 1);
  return Array.from({ length: count }, () => BigInt(Math.floor(Math.random() * 2 * half) - half));
}

/**
 * The chunk's challenge as kzg-challenge.ts defines it, over a random context and Poseidon
 * commitment per chunk (the proof's public signals; their values do not change the cost).
 */
const chunkSignals = new Map<number, { context: bigint; commitment: bigint }>();
function challenge(commitment: G1Hex, chunk: number): bigint {
  let signals = chunkSignals.get(chunk);
  if (!signals) {
    signals = { context: randomScalar(), commitment: randomScalar() };
    chunkSignals.set(chunk, signals);
  }
  return kzgChallenge({ ...signals, kzgCommitment: commitment });
}

interface DeviceChunk {
  coefficients: bigint[];
  values: bigint[];
  blinding: [bigint, bigint];
}

/** An update of `parameters` values cut into zero-padded chunks, each with its two blindings. */
function deviceChunks(parameters: number): DeviceChunk[] {
  const chunks: DeviceChunk[] = [];
  const values = randomValues(parameters);
  for (let start = 0; start < parameters; start += chunkSize) {
    const chunk = values.slice(start, start + chunkSize);
    while (chunk.length < chunkSize) chunk.push(0n);
    const blinding: [bigint, bigint] = [randomScalar(), randomScalar()];
    chunks.push({ values: chunk, blinding, coefficients: [...chunk.map(toField), ...blinding] });
  }
  return chunks;
}

/** What a device adds to a round: per chunk, C, the challenge x from C, and the opening at x. */
async function commitAndOpen(
  srs: KzgSrs,
  chunks: readonly DeviceChunk[],
): Promise<{ openings: KzgOpening[]; commitSeconds: number; openSeconds: number }> {
  const openings: KzgOpening[] = [];
  let commitSeconds = 0;
  let openSeconds = 0;
  for (let j = 0; j < chunks.length; j++) {
    let started = performance.now();
    const commitment = await kzgCommit(srs, chunks[j].coefficients);
    commitSeconds += secondsSince(started);
    started = performance.now();
    const x = challenge(commitment, j);
    const { value, proof } = await kzgOpen(srs, chunks[j].coefficients, x);
    openSeconds += secondsSince(started);
    openings.push({ commitment, x, value, proof });
  }
  return { openings, commitSeconds, openSeconds };
}

function proofTimes(): { prove: Record<number, number | null>; source: string } {
  // Proving 16k and 64k parameters with the production chunk circuit takes 0.5 and 2+ minutes
  // on a quiet machine, plus a 2^16 circuit build when the circuit changed: more than this
  // benchmark's budget on a shared machine, so the denominator is proofs.json's measurement.
  const path = join(RESULTS_DIRECTORY, "proofs.json");
  const document = JSON.parse(readFileSync(path, "utf8")) as {
    date?: string;
    machine?: { gitCommit?: string; loadAverageAtStart?: number };
    summary?: Record<string, FigureValue>;
  };
  const figure = (key: string) => {
    const value = document.summary?.[key];
    return typeof value === "number" ? value : null;
  };
  return {
    prove: { 16384: figure("prove16kSeconds"), 65536: figure("prove64kSeconds") },
    source: `benchmarks/results/proofs.json prove16kSeconds/prove64kSeconds (${document.date ?? "undated"}, commit ${document.machine?.gitCommit?.slice(0, 12) ?? "unknown"}, load ${document.machine?.loadAverageAtStart ?? "?"}; measured with the UpdateNorm circuit before the KZG evaluation, whose larger chunks made fewer proofs per update: today's proof of the same update takes more chunks, so the share is overstated)`,
  };
}

interface DeviceResult {
  parameters: number;
  chunks: number;
  commitSeconds: number;
  openSeconds: number;
  totalSeconds: number;
  proofSeconds: number | null;
  share: number | null;
}

async function measureDevice(
  srs: KzgSrs,
  parameters: number,
  proofSeconds: number | null,
): Promise<DeviceResult> {
  const runs: { commitSeconds: number; openSeconds: number }[] = [];
  for (let k = 0; k < DEVICE_REPEATS; k++)
    runs.push(await commitAndOpen(srs, deviceChunks(parameters)));
  const commitSeconds = median(runs.map((r) => r.commitSeconds));
  const openSeconds = median(runs.map((r) => r.openSeconds));
  const totalSeconds = median(runs.map((r) => r.commitSeconds + r.openSeconds));
  return {
    parameters,
    chunks: Math.ceil(parameters / chunkSize),
    commitSeconds,
    openSeconds,
    totalSeconds,
    proofSeconds,
    share: proofSeconds ? totalSeconds / proofSeconds : null,
  };
}

interface VerifierResult {
  contributions: number;
  parameters: number;
  chunks: number;
  openings: number;
  setupSeconds: number;
  weightedSumSeconds: number;
  aggregateCommitSeconds: number;
  batchOpeningSeconds: number;
  totalSeconds: number;
}

/**
 * One round as a verifier sees it: per contribution and chunk, C and its opening (made here
 * by simulated devices, not timed), the proven weights, and the aggregate S with blinding sum R.
 */
async function measureVerifier(srs: KzgSrs): Promise<VerifierResult> {
  const chunks = Math.ceil(CONTRIBUTION_PARAMETERS / chunkSize);
  const weights = Array.from({ length: CONTRIBUTIONS }, () =>
    BigInt(100 + Math.floor(Math.random() * 60_000)),
  );
  const commitments: G1Hex[][] = Array.from({ length: chunks }, () => []);
  const openings: KzgOpening[] = [];
  const aggregate: bigint[][] = Array.from({ length: chunks }, () => new Array(chunkSize).fill(0n));
  const blindingSum: [bigint, bigint][] = Array.from({ length: chunks }, () => [0n, 0n]);
  const setupStarted = performance.now();
  for (let i = 0; i < CONTRIBUTIONS; i++) {
    const device = deviceChunks(CONTRIBUTION_PARAMETERS);
    const { openings: made } = await commitAndOpen(srs, device);
    for (let j = 0; j < chunks; j++) {
      commitments[j].push(made[j].commitment);
      openings.push(made[j]);
      const { values, blinding } = device[j];
      for (let t = 0; t < chunkSize; t++) aggregate[j][t] += weights[i] * values[t];
      blindingSum[j][0] = (blindingSum[j][0] + weights[i] * blinding[0]) % FIELD_MODULUS;
      blindingSum[j][1] = (blindingSum[j][1] + weights[i] * blinding[1]) % FIELD_MODULUS;
    }
    process.stderr.write(`verifier setup: contribution ${i + 1}/${CONTRIBUTIONS} committed\n`);
  }
  const setupSeconds = secondsSince(setupStarted);

  let started = performance.now();
  const combined: G1Hex[] = [];
  for (let j = 0; j < chunks; j++)
    combined.push(await kzgLinearCombination(commitments[j], weights));
  const weightedSumSeconds = secondsSince(started);

  started = performance.now();
  for (let j = 0; j < chunks; j++) {
    const expected = await kzgCommit(srs, [...aggregate[j].map(toField), ...blindingSum[j]]);
    if (expected !== combined[j]) throw new Error(`chunk ${j}: Σ w_i·C_i ≠ commit(S, R)`);
  }
  const aggregateCommitSeconds = secondsSince(started);

  started = performance.now();
  // The verifier recomputes every challenge from its commitment before the batched check.
  const rechecked = openings.map((o, k) => ({ ...o, x: challenge(o.commitment, k % chunks) }));
  if (!(await kzgVerifyBatch(srs, rechecked))) throw new Error("the batched opening check failed");
  const batchOpeningSeconds = secondsSince(started);

  return {
    contributions: CONTRIBUTIONS,
    parameters: CONTRIBUTION_PARAMETERS,
    chunks,
    openings: openings.length,
    setupSeconds,
    weightedSumSeconds,
    aggregateCommitSeconds,
    batchOpeningSeconds,
    totalSeconds: weightedSumSeconds + aggregateCommitSeconds + batchOpeningSeconds,
  };
}

async function main(): Promise<void> {
  const ptau = await ptauPath();
  try {
    const loadStarted = performance.now();
    const srs = await readSrsFromPtau(ptau.path, srsSize);
    const srsLoadSeconds = secondsSince(loadStarted);
    // The first MSM converts the SRS to the curve library's form (cached per SRS): a one-off
    // per process, kept out of the per-round figures.
    await kzgCommit(srs, [1n]);
    const { prove, source } = proofTimes();

    const device: DeviceResult[] = [];
    for (const parameters of DEVICE_SIZES) {
      device.push(await measureDevice(srs, parameters, prove[parameters] ?? null));
      process.stderr.write(`device: ${parameters} parameters measured\n`);
    }
    const verifier = await measureVerifier(srs);

    const at = (parameters: number) => device.find((d) => d.parameters === parameters);
    const name = resultsName("aggregation");
    const kept = keptFigures(name);
    const verifyKey = `verifyAggregation${CONTRIBUTION_PARAMETERS / 1000}kx${CONTRIBUTIONS}Seconds`;
    const summary: Record<string, FigureValue> = {
      chunkSize,
      kzgDevice16kSeconds: round(at(16_384)?.totalSeconds ?? Number.NaN, 3),
      kzgDevice64kSeconds: round(at(65_536)?.totalSeconds ?? Number.NaN, 3),
      prove16kSeconds: prove[16_384] ?? null,
      prove64kSeconds: prove[65_536] ?? null,
      proofTimeSource: source,
      commitmentShareOfProof16k: shareFigure(at(16_384)?.share),
      commitmentShareOfProof64k: shareFigure(at(65_536)?.share),
      commitmentShareTarget: SHARE_TARGET,
      [verifyKey]: round(verifier.totalSeconds, 3),
      verifyWeightedSumSeconds: round(verifier.weightedSumSeconds, 3),
      verifyAggregateCommitSeconds: round(verifier.aggregateCommitSeconds, 3),
      verifyBatchOpeningSeconds: round(verifier.batchOpeningSeconds, 3),
      srsLoadSeconds: round(srsLoadSeconds, 2),
      ...kept,
    };
    const deviceTable: ResultTable = {
      title: "Device: commitments and openings per round (16-bit values)",
      columns: ["parameters", "chunks", "commit s", "open s", "total s", "proof s", "share"],
      rows: device.map((d) => [
        d.parameters,
        d.chunks,
        d.commitSeconds,
        d.openSeconds,
        d.totalSeconds,
        d.proofSeconds ?? "—",
        d.share === null ? "—" : `${(100 * d.share).toFixed(1)} %`,
      ]),
      note: `Per chunk of n = ${chunkSize} values (updateNormCircuit(${BITS})): C = commit(q_0..q_{n−1}, ρ0, ρ1) over ${srsSize} powers, x from C, and the opening at x (quotient by synthetic division, one full-width MSM). Median of ${DEVICE_REPEATS} run(s), on ffjavascript's curve with its default thread pool, on a shared 2-core machine (see the load above). Share = total / the Groth16 proof time of the same update (${source}); target ≤ ${100 * SHARE_TARGET} %.`,
    };
    const verifierTable: ResultTable = {
      title: `Verifier: one round of ${CONTRIBUTIONS} contributions of ${CONTRIBUTION_PARAMETERS} parameters`,
      columns: ["step", "seconds"],
      rows: [
        [
          `Σ w_i·C_i for each of ${verifier.chunks} chunks (${CONTRIBUTIONS} points each)`,
          verifier.weightedSumSeconds,
        ],
        [
          `commit(S, R) for each chunk (${srsSize}-point MSM; S = Σ w_i·q_i of ~35 bits, R full width)`,
          verifier.aggregateCommitSeconds,
        ],
        [
          `challenges recomputed + one batched check of ${verifier.openings} openings`,
          verifier.batchOpeningSeconds,
        ],
        ["total", verifier.totalSeconds],
      ],
      note: `Not timed: the simulated devices' commitments and openings (${round(verifier.setupSeconds, 1)} s). Weights are sample counts in [100, 60100]; every Σ w_i·C_i was checked equal to commit(S, R) and the batch accepted.`,
    };
    writeResults(name, { summary, device, verifier, srs: { size: srsSize, ptau: ptau.source } }, [
      deviceTable,
      verifierTable,
    ]);
  } finally {
    ptau.cleanup();
    await releaseSnarkjsThreads();
  }
}

function shareFigure(share: number | null | undefined): FigureValue {
  return share === null || share === undefined ? null : round(share, 4);
}

/** Summary figures other benchmarks add to this file (the dispute gas), kept across runs. */
function keptFigures(name: string): Record<string, FigureValue> {
  const path = join(RESULTS_DIRECTORY, `${name}.json`);
  if (!existsSync(path)) return {};
  const previous = JSON.parse(readFileSync(path, "utf8")) as {
    summary?: Record<string, FigureValue>;
  };
  const ours = new Set([
    "chunkSize",
    "kzgDevice16kSeconds",
    "kzgDevice64kSeconds",
    "prove16kSeconds",
    "prove64kSeconds",
    "proofTimeSource",
    "commitmentShareOfProof16k",
    "commitmentShareOfProof64k",
    "commitmentShareTarget",
    "verifyWeightedSumSeconds",
    "verifyAggregateCommitSeconds",
    "verifyBatchOpeningSeconds",
    "srsLoadSeconds",
  ]);
  return Object.fromEntries(
    Object.entries(previous.summary ?? {}).filter(
      ([key]) => !ours.has(key) && !key.startsWith("verifyAggregation"),
    ),
  );
}

await main();
