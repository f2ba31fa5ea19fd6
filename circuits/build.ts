import { readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Groth16VerificationKey } from "snarkjs";
import * as snarkjs from "snarkjs";
import { FedproofError, InvalidArgumentError } from "../common/errors.js";
import { verificationKeyHash } from "../protocol/proofs/verification-key-hash.js";
import { cacheRoot, exists, readJson, sha256File, sha256Hex, withLock } from "./artifact-cache.js";
import {
  type CircuitSpec,
  circuitName,
  mainSource,
  TEST_CIRCUITS,
  templateFiles,
  updateNormCircuit,
} from "./circuit-catalog.js";
import { CIRCOMLIB_DIR, CIRCUITS_DIR, circomVersion, compileCircuit } from "./compile-circuit.js";
import { DEV_PTAU_REASON, writeDevPowersOfTau } from "./dev-powers-of-tau.js";

/** Bumped whenever the build steps change in a way that changes their outputs. */
const BUILD_FORMAT = 1;

/** The beacon that stands in for a ceremony in development keys: public, hence insecure. */
const DEV_BEACON_HEX = sha256Hex("fedproof insecure development zkey beacon");

export const DEV_SETUP_REASON = `${DEV_PTAU_REASON}; the circuit key's only contribution is a public beacon`;

export interface BuildLogger {
  info(message: string): void;
  warn(message: string): void;
}

export interface BuildCircuitsParameters {
  /**
   * Development setup: a powers of tau from public τ, α, β and a public-beacon key. Fast,
   * and INSECURE: anyone can forge proofs. Labelled as such in file names, artifact
   * metadata and logs.
   */
  dev: boolean;
  /** Production: a prepared powers-of-tau file from a public ceremony (required when !dev). */
  ptau?: string;
  /** Overrides $FEDPROOF_CACHE_DIR and ~/.cache/fedproof. */
  cacheDir?: string;
  /** Defaults to DEFAULT_CIRCUITS. */
  circuits?: readonly CircuitSpec[];
  logger?: BuildLogger;
}

/** What a coordinator serves to devices and pins on chain, for one circuit. */
export interface CircuitArtifacts {
  /** `<name>-<first 12 hex of the compile hash>`: names a circuit build exactly. */
  id: string;
  name: string;
  spec: CircuitSpec;
  /** SHA-256 over template sources, parameters, circomlib and circom versions. */
  compileHash: string;
  r1csPath: string;
  wasmPath: string;
  symPath: string;
  zkeyPath: string;
  vkeyPath: string;
  verificationKey: Groth16VerificationKey;
  /** `verificationKeyHash(verificationKey)`: what the coordinator and the chain pin. */
  verificationKeySha256: `0x${string}`;
  wasmSha256: string;
  zkeySha256: string;
  zkeyBytes: number;
  constraints: number;
  /** log2 of the evaluation domain (snarkjs's cirPower). */
  domainPower: number;
  publicSignals: number;
  insecure: boolean;
  insecureReason?: string;
  /** Circuit-key contributions so far (dev: the one public beacon). */
  contributions: number;
  /** False for a production key that still waits for its ceremony (see ceremony.ts). */
  ready: boolean;
  setup: { kind: "dev-insecure" } | { kind: "ptau"; ptauPath: string; ptauSha256: string };
  compileSeconds: number;
  setupSeconds: number;
}

export interface BuildCircuitsReturnType {
  circuits: CircuitArtifacts[];
  insecure: boolean;
  ptauPath: string;
  seconds: number;
}

/**
 * What `fedproof circuits build` builds by default: the production chunk circuits for 8-
 * and 16-bit updates, plus the test circuits (which the demo's synthetic data also uses).
 */
export const DEFAULT_CIRCUITS: readonly CircuitSpec[] = [
  updateNormCircuit(8),
  updateNormCircuit(16),
  TEST_CIRCUITS.updateNorm,
  TEST_CIRCUITS.dataValidity,
];

export interface CompileRecord {
  compileHash: string;
  constraints: number;
  publicSignals: number;
  domainPower: number;
  compileSeconds: number;
}

/** The ptau file is missing Lagrange sections, too small, or not a ptau file. */
export class PowersOfTauError extends FedproofError {
  override name = "PowersOfTauError";
  constructor(shortMessage: string, details?: string) {
    super(shortMessage, { details, code: "FAILED_PRECONDITION" });
  }
}

/**
 * Compiles every circuit (circom2, --O2) and runs its Groth16 setup, caching by content
 * hash: a second call with the same sources and parameters returns in milliseconds.
 */
export async function buildCircuits(
  parameters: BuildCircuitsParameters,
): Promise<BuildCircuitsReturnType> {
  const started = performance.now();
  const { dev, logger } = parameters;
  if (!dev && !parameters.ptau) {
    throw new InvalidArgumentError(
      "a production build needs --ptau FILE (a prepared powers-of-tau from a ceremony)",
    );
  }
  const root = cacheRoot(parameters.cacheDir);
  const specs = parameters.circuits ?? DEFAULT_CIRCUITS;
  if (dev) {
    logger?.warn(
      `INSECURE development setup: ${DEV_SETUP_REASON}. Never use these keys in production.`,
    );
  }

  const compiled: { spec: CircuitSpec; dir: string; record: CompileRecord }[] = [];
  for (const spec of specs) compiled.push(await compileCached(spec, root, logger));

  const neededPower = Math.max(...compiled.map((c) => c.record.domainPower));
  let ptauPath: string;
  let setup: CircuitArtifacts["setup"];
  if (dev) {
    ptauPath = await ensureDevPowersOfTau(root, neededPower, logger);
    setup = { kind: "dev-insecure" };
  } else {
    ptauPath = parameters.ptau!;
    const ptauSha256 = await checkPowersOfTau(ptauPath, neededPower);
    setup = { kind: "ptau", ptauPath, ptauSha256 };
  }

  const circuits: CircuitArtifacts[] = [];
  for (const { spec, dir, record } of compiled) {
    circuits.push(await setupCached({ spec, dir, record, ptauPath, setup, logger }));
  }
  return { circuits, insecure: dev, ptauPath, seconds: (performance.now() - started) / 1000 };
}

/** Finds an already-built circuit in the cache by id (what the coordinator serves by). */
export async function findCircuitArtifacts(
  id: string,
  cacheDir?: string,
): Promise<CircuitArtifacts[]> {
  const base = join(cacheRoot(cacheDir), "circuits");
  if (!(await exists(base))) return [];
  const found: CircuitArtifacts[] = [];
  for (const hash of await readdir(base)) {
    if (!id.endsWith(hash.slice(0, 12))) continue;
    for (const entry of await readdir(join(base, hash)).catch(() => [] as string[])) {
      const path = join(base, hash, entry, "artifact.json");
      if (await exists(path)) found.push(await readJson<CircuitArtifacts>(path));
    }
  }
  return found.filter((a) => a.id === id);
}

async function compileCached(
  spec: CircuitSpec,
  root: string,
  logger?: BuildLogger,
): Promise<{ spec: CircuitSpec; dir: string; record: CompileRecord }> {
  const name = circuitName(spec);
  const source = mainSource(spec);
  const templates: Record<string, string> = {};
  for (const file of templateFiles(spec)) {
    templates[file] = sha256Hex(await readFile(join(CIRCUITS_DIR, file)));
  }
  const circomlibVersion = (
    await readJson<{ version: string }>(join(CIRCOMLIB_DIR, "..", "package.json"))
  ).version;
  const compileHash = sha256Hex(
    JSON.stringify({
      format: BUILD_FORMAT,
      spec,
      source,
      templates,
      circomlibVersion,
      circom: circomVersion(),
      flags: "--O2",
    }),
  );
  const dir = join(root, "circuits", compileHash);
  const recordPath = join(dir, "compile.json");
  const record = await withLock(`${dir}.lock`, async () => {
    if (await exists(recordPath)) return readJson<CompileRecord>(recordPath);
    logger?.info(`compiling ${name} (circom2 --O2)`);
    const result = await compileCircuit({ name, mainSource: source, outDir: dir });
    const publicSignals = result.publicInputs + result.publicOutputs;
    const compiledRecord: CompileRecord = {
      compileHash,
      constraints: result.constraints,
      publicSignals,
      // snarkjs: the domain must hold every constraint plus one row per public signal.
      domainPower: Math.floor(Math.log2(result.constraints + publicSignals)) + 1,
      compileSeconds: result.seconds,
    };
    await writeFile(recordPath, `${JSON.stringify(compiledRecord, null, 2)}\n`);
    logger?.info(
      `compiled ${name}: ${result.constraints} constraints in ${result.seconds.toFixed(1)} s`,
    );
    return compiledRecord;
  });
  return { spec, dir, record };
}

async function ensureDevPowersOfTau(
  root: string,
  power: number,
  logger?: BuildLogger,
): Promise<string> {
  const dir = join(root, "ptau");
  // A larger development ptau serves every smaller circuit, so reuse one if it exists.
  for (let p = power; p <= 24; p++) {
    const path = join(dir, `dev-insecure-p${p}.ptau`);
    if (await exists(`${path}.json`)) return path;
  }
  const path = join(dir, `dev-insecure-p${power}.ptau`);
  await withLock(`${path}.lock`, async () => {
    if (await exists(`${path}.json`)) return;
    logger?.warn(`INSECURE: generating development powers of tau 2^${power} (${DEV_PTAU_REASON})`);
    const started = performance.now();
    await writeDevPowersOfTau({ power, path: `${path}.tmp` });
    await rename(`${path}.tmp`, path);
    const seconds = (performance.now() - started) / 1000;
    await writeFile(
      `${path}.json`,
      `${JSON.stringify({ insecure: true, reason: DEV_PTAU_REASON, power, seconds }, null, 2)}\n`,
    );
    logger?.info(`development powers of tau 2^${power} written in ${seconds.toFixed(1)} s`);
  });
  return path;
}

/** Checks a production ptau: prepared (Lagrange sections) and large enough; returns its SHA-256. */
async function checkPowersOfTau(path: string, power: number): Promise<string> {
  if (!(await exists(path)))
    throw new PowersOfTauError(`powers-of-tau file ${path} does not exist`);
  const { power: filePower, prepared } = await readPtauInfo(path);
  if (!prepared) {
    throw new PowersOfTauError(
      `${path} is not prepared for phase 2`,
      "run `npx snarkjs powersoftau prepare phase2 IN OUT` once, or download a prepared file",
    );
  }
  if (filePower < power) {
    throw new PowersOfTauError(
      `${path} supports circuits up to 2^${filePower}, the largest circuit needs 2^${power}`,
    );
  }
  return sha256File(path);
}

/** Reads a ptau file's power and whether it carries the phase-2 Lagrange sections. */
export async function readPtauInfo(path: string): Promise<{ power: number; prepared: boolean }> {
  const { open } = await import("node:fs/promises");
  const file = await open(path, "r");
  try {
    const head = Buffer.alloc(12);
    await file.read(head, 0, 12, 0);
    if (head.toString("latin1", 0, 4) !== "ptau")
      throw new PowersOfTauError(`${path} is not a ptau file`);
    const sections = head.readUInt32LE(8);
    let position = 12;
    let power = -1;
    let prepared = false;
    const sectionHeader = Buffer.alloc(12);
    for (let i = 0; i < sections; i++) {
      await file.read(sectionHeader, 0, 12, position);
      const id = sectionHeader.readUInt32LE(0);
      const size = Number(sectionHeader.readBigUInt64LE(4));
      if (id === 1) {
        const header = Buffer.alloc(44);
        await file.read(header, 0, 44, position + 12);
        power = header.readUInt32LE(36);
      }
      if (id === 12) prepared = true;
      position += 12 + size;
    }
    return { power, prepared };
  } finally {
    await file.close();
  }
}

interface SetupParameters {
  spec: CircuitSpec;
  dir: string;
  record: CompileRecord;
  ptauPath: string;
  setup: CircuitArtifacts["setup"];
  logger?: BuildLogger;
}

async function setupCached(parameters: SetupParameters): Promise<CircuitArtifacts> {
  const { spec, dir, record, ptauPath, setup, logger } = parameters;
  const name = circuitName(spec);
  const insecure = setup.kind === "dev-insecure";
  const setupDir = join(dir, insecure ? "dev-insecure" : `ptau-${setup.ptauSha256.slice(0, 16)}`);
  const artifactPath = join(setupDir, "artifact.json");
  return withLock(`${dir}.lock`, async () => {
    if (await exists(artifactPath)) return readJson<CircuitArtifacts>(artifactPath);
    const started = performance.now();
    const { mkdir } = await import("node:fs/promises");
    await mkdir(setupDir, { recursive: true });
    const r1csPath = join(dir, `${name}.r1cs`);
    const initialZkey = join(setupDir, `${name}.0000.zkey`);
    logger?.info(`Groth16 setup for ${name}${insecure ? " (INSECURE development key)" : ""}`);
    await snarkjs.zKey.newZKey(r1csPath, ptauPath, initialZkey);
    let zkeyPath = initialZkey;
    let contributions = 0;
    if (insecure) {
      zkeyPath = join(setupDir, `${name}.dev-insecure.zkey`);
      const ok = await snarkjs.zKey.beacon(
        initialZkey,
        zkeyPath,
        "fedproof insecure development beacon",
        DEV_BEACON_HEX,
        10,
      );
      if (!ok) throw new FedproofError(`snarkjs zkey beacon failed for ${name}`);
      await rm(initialZkey);
      contributions = 1;
      await writeFile(
        join(setupDir, "INSECURE.json"),
        `${JSON.stringify({ insecure: true, reason: DEV_SETUP_REASON }, null, 2)}\n`,
      );
    }
    const artifacts = await describeArtifacts({
      spec,
      dir,
      setupDir,
      record,
      zkeyPath,
      setup,
      contributions,
      setupSeconds: (performance.now() - started) / 1000,
    });
    await writeFile(artifactPath, `${JSON.stringify(artifacts, null, 2)}\n`);
    if (artifacts.ready) {
      logger?.info(
        `${artifacts.id}: vkey ${artifacts.verificationKeySha256}${insecure ? " (INSECURE)" : ""}`,
      );
    } else {
      logger?.warn(
        `${artifacts.id}: initial key written; run the ceremony (ceremonyContribute) before use`,
      );
    }
    return artifacts;
  });
}

export interface DescribeArtifactsParameters {
  spec: CircuitSpec;
  dir: string;
  setupDir: string;
  record: CompileRecord;
  zkeyPath: string;
  setup: CircuitArtifacts["setup"];
  contributions: number;
  setupSeconds: number;
}

/** Exports the vkey of `zkeyPath` and assembles the artifact record (also used after a ceremony step). */
export async function describeArtifacts(
  parameters: DescribeArtifactsParameters,
): Promise<CircuitArtifacts> {
  const { spec, dir, setupDir, record, zkeyPath, setup, contributions } = parameters;
  const name = circuitName(spec);
  const insecure = setup.kind === "dev-insecure";
  const verificationKey = await snarkjs.zKey.exportVerificationKey(zkeyPath);
  const vkeyPath = join(setupDir, "vkey.json");
  await writeFile(vkeyPath, `${JSON.stringify(verificationKey, null, 1)}\n`);
  const wasmPath = join(dir, `${name}_js`, `${name}.wasm`);
  const zkey = await readFile(zkeyPath);
  return {
    id: `${name}-${record.compileHash.slice(0, 12)}`,
    name,
    spec,
    compileHash: record.compileHash,
    r1csPath: join(dir, `${name}.r1cs`),
    wasmPath,
    symPath: join(dir, `${name}.sym`),
    zkeyPath,
    vkeyPath,
    verificationKey,
    verificationKeySha256: verificationKeyHash(verificationKey),
    wasmSha256: await sha256File(wasmPath),
    zkeySha256: sha256Hex(zkey),
    zkeyBytes: zkey.byteLength,
    constraints: record.constraints,
    domainPower: record.domainPower,
    publicSignals: record.publicSignals,
    insecure,
    ...(insecure ? { insecureReason: DEV_SETUP_REASON } : {}),
    contributions,
    // A production key with no contribution has δ = γ = the generator, and is forgeable.
    ready: insecure || contributions > 0,
    setup,
    compileSeconds: record.compileSeconds,
    setupSeconds: parameters.setupSeconds,
  };
}
