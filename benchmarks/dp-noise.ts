/**
 * What proven central-DP noise costs the coordinator (circuits/README.md, "Proven DP noise"):
 * per round, committing to the noise N chunk by chunk with KZG and proving Σ N² ≤ c2 with the
 * noise circuit UpdateNormChunk(3,075, B), at 16,384 and 65,536 parameters, against one
 * device's proof of an update of the same size with the 16-bit chunk circuit, measured in the
 * same run (the ratio is what to read: the machine is shared).
 *
 *   npx tsx benchmarks/dp-noise.ts            # 16k and 64k parameters
 *   npx tsx benchmarks/dp-noise.ts --quick    # 16k only
 *
 * Writes benchmarks/results/dp-noise.json and dp-noise.md (dp-noise-quick.* with --quick). The
 * circuits are built with the INSECURE development setup and cached: costs are the same with a
 * ceremony file. The noise is the mechanism's own (z = 1, C = 1, the default 16-bit scale).
 */

import { readFile } from "node:fs/promises";
import { buildCircuits } from "../circuits/build.js";
import { estimateUpdateNormConstraints, updateNormCircuit } from "../circuits/circuit-catalog.js";
import { releaseSnarkjsThreads } from "../client/core/proving/release-snarkjs.js";
import { integerGaussianMechanism } from "../coordinator/privacy/integer-gaussian-mechanism.js";
import { createNoiseSource } from "../coordinator/privacy/noise-source.js";
import { proveNoise } from "../coordinator/privacy/prove-noise.js";
import { noiseProofParameters } from "../protocol/aggregation/noise-bound.js";
import { parseJobSpec } from "../protocol/job/job-spec.js";
import { uniformFieldElement } from "../protocol/proving/field.js";
import { readSrsFromPtau } from "../protocol/proving/kzg.js";
import { inThreadProver } from "../protocol/proving/prove-groth16.js";
import { proveUpdate } from "../protocol/proving/prove-update-norm.js";
import { quantizedNormBound } from "../protocol/update/quantize.js";
import {
  isQuick,
  type ResultTable,
  resultsName,
  round,
  secondsSince,
  writeResults,
} from "./harness.js";

const quick = isQuick();
const BITS = 16;
const SIZES = quick ? [16_384] : [16_384, 65_536];

const device = updateNormCircuit(BITS);
if (device.kind !== "update-norm") throw new Error("updateNormCircuit returned another circuit");
const n = device.n;
const spec = () =>
  parseJobSpec({
    // An mlp's spec only for its privacy and scale: the noise depends on C, z, scale and P.
    model: "mlp",
    schema: { featureShape: [784], min: 0, max: 1, classes: 10 },
    clipNorm: 1,
    proofs: true,
    privacy: { noiseMultiplier: 1 },
    quantization: { bits: BITS, scale: 1 / 32_767 },
  });

const bound = (parameters: number) => noiseProofParameters(spec(), parameters);
const noiseBits = bound(SIZES[0]!).bits;
const noise = { kind: "update-norm" as const, n, bits: noiseBits };

const buildStarted = performance.now();
const built = await buildCircuits({ dev: true, circuits: [device, noise] });
const buildSeconds = secondsSince(buildStarted);
const [deviceCircuit, noiseCircuit] = built.circuits as [
  (typeof built.circuits)[number],
  (typeof built.circuits)[number],
];
const srs = await readSrsFromPtau(built.ptauPath, n + 2);
const deviceProver = inThreadProver({
  wasm: await readFile(deviceCircuit.wasmPath),
  zkey: await readFile(deviceCircuit.zkeyPath),
});

interface Row {
  parameters: number;
  chunks: number;
  noiseBits: number;
  c2: string;
  noiseSquaredNorm: string;
  noiseSeconds: number;
  deviceSeconds: number;
  ratio: number;
}

const rows: Row[] = [];
for (const parameters of SIZES) {
  const { c2, bits } = bound(parameters);
  // The mechanism's noise on a zero sum, against the bound the coordinator proves.
  const drawn = integerGaussianMechanism({
    updates: [{ id: "zero", q: new Int32Array(parameters) }],
    length: parameters,
    clipNorm: 1,
    noiseMultiplier: 1,
    rng: createNoiseSource(),
    scale: 1 / 32_767,
    noiseBound: c2,
  });
  const noiseStarted = performance.now();
  const proven = await proveNoise({
    noise: drawn.noise,
    circuit: {
      id: noiseCircuit.id,
      parameters: { n, bits },
      wasmPath: noiseCircuit.wasmPath,
      zkeyPath: noiseCircuit.zkeyPath,
    },
    srs,
    c2,
    context: {
      jobId: "bench",
      round: 1,
      globalModelHash: "00".repeat(32),
      roundSeed: "11".repeat(32),
    },
  });
  const noiseSeconds = secondsSince(noiseStarted);

  // A device's update of the same size: values of ±150, Σ q² well inside (C/scale)².
  const q = Int32Array.from({ length: parameters }, () => Math.floor(Math.random() * 301) - 150);
  const deviceStarted = performance.now();
  await proveUpdate({
    q,
    circuit: { n, bits: BITS },
    salt: uniformFieldElement(),
    context: {
      jobId: "bench",
      round: 1,
      globalModelHash: "00".repeat(32),
      deviceId: "device",
      roundSeed: "11".repeat(32),
    },
    c2: quantizedNormBound(1, 1 / 32_767),
    srs,
    prover: deviceProver,
  });
  const deviceSeconds = secondsSince(deviceStarted);
  rows.push({
    parameters,
    chunks: proven.proof.proofs.length,
    noiseBits: bits,
    c2: c2.toString(),
    noiseSquaredNorm: drawn.noiseSquaredNorm.toString(),
    noiseSeconds: round(noiseSeconds, 2),
    deviceSeconds: round(deviceSeconds, 2),
    ratio: round(noiseSeconds / deviceSeconds, 3),
  });
  process.stderr.write(
    `${parameters} parameters: noise ${noiseSeconds.toFixed(1)} s, device ${deviceSeconds.toFixed(1)} s\n`,
  );
}
await releaseSnarkjsThreads();

const summary: Record<string, number | string> = {
  chunkSize: n,
  noiseBits,
  noiseCircuitConstraints: estimateUpdateNormConstraints({ n, bits: noiseBits }),
  deviceCircuitConstraints: estimateUpdateNormConstraints({ n, bits: BITS }),
  buildSeconds: round(buildSeconds, 1),
};
for (const row of rows) {
  const k = `${Math.round(row.parameters / 1024)}k`;
  summary[`noiseProof${k}Seconds`] = row.noiseSeconds;
  summary[`deviceProof${k}Seconds`] = row.deviceSeconds;
  summary[`noiseToDeviceRatio${k}`] = row.ratio;
}
const table: ResultTable = {
  title: "Coordinator: commit to and prove the DP noise, per round, vs one device's proof",
  columns: [
    "parameters",
    "chunks",
    "noise bits",
    "c2",
    "Σ N² drawn",
    "noise proof (s)",
    "device proof (s)",
    "ratio",
  ],
  rows: rows.map((row) => [
    row.parameters,
    row.chunks,
    row.noiseBits,
    row.c2,
    row.noiseSquaredNorm,
    row.noiseSeconds,
    row.deviceSeconds,
    row.ratio,
  ]),
  note: `z = 1, C = 1, scale = 1/32,767 (16 bits). Noise circuit UpdateNormChunk(${n}, ${noiseBits}) of ${summary.noiseCircuitConstraints} constraints, device circuit UpdateNormChunk(${n}, ${BITS}) of ${summary.deviceCircuitConstraints}; both timed in this run, one after the other, including the KZG commitments and openings.`,
};
writeResults(resultsName("dp-noise"), { summary, rows }, table);
