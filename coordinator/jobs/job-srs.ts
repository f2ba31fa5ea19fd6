/**
 * The KZG structured reference string of a job with proofs: the first n + 2 powers [τ^i]G1
 * and [τ]G2 of the very powers-of-tau file the job's UpdateNorm key was set up with (the
 * development ptau, or the operator's ceremony file), so the KZG commitments rest on the same
 * trust assumption as the Groth16 keys (circuits/README.md). Stored once per content hash as
 * an artifact beside the circuit files, served by GetArtifact like them, and pinned on chain
 * through the job's verification-key hash (protocol/provenance/job-vkey-hash.ts).
 */
import { mkdir, rename, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Hex } from "viem";
import { cacheRoot } from "../../circuits/artifact-cache.js";
import {
  decodeSrs,
  encodeSrs,
  type KzgSrs,
  readSrsFromPtau,
  srsHash,
} from "../../protocol/proving/kzg.js";
import type { ArtifactStore } from "../store/artifact-store.js";

export interface StoredSrs {
  /** srsHash: 0x-sha256 of the encoded SRS, what the vkey hash folds in. */
  hash: Hex;
  /** The same digest without 0x: the artifact's name for GetArtifact. */
  sha256: string;
  /** Points [τ^i]G1 it holds: the chunk size n + 2. */
  size: number;
  /** The encoded SRS on disk. */
  path: string;
  bytes: number;
}

export interface PrepareJobSrsParameters {
  /** The ptau the job's UpdateNorm key was set up with (BuildCircuitsReturnType.ptauPath). */
  ptauPath: string;
  /** Values per UpdateNorm chunk; the SRS holds n + 2 powers (the two blinding coefficients). */
  n: number;
  cacheDir?: string;
}

export async function prepareJobSrs(parameters: PrepareJobSrsParameters): Promise<StoredSrs> {
  const size = parameters.n + 2;
  const srs = await readSrsFromPtau(parameters.ptauPath, size);
  const encoded = encodeSrs(srs);
  const hash = srsHash(srs);
  const sha256 = hash.slice(2);
  const dir = join(cacheRoot(parameters.cacheDir), "srs");
  const path = join(dir, `${sha256}.srs`);
  const existing = await stat(path).catch(() => undefined);
  if (existing?.size !== encoded.byteLength) {
    await mkdir(dir, { recursive: true });
    // Content-addressed and written whole: a reader never sees half a file under the name.
    const temporary = `${path}.${process.pid}.tmp`;
    await writeFile(temporary, encoded);
    await rename(temporary, path);
  }
  return { hash, sha256, size, path, bytes: encoded.byteLength };
}

/** Decoded SRS by sha256: decoding checks every point, once per process and job SRS. */
const srsCache = new Map<string, Promise<KzgSrs>>();

/** The job's SRS from the blob store every coordinator and worker shares, decoded once. */
export function loadJobSrs(artifacts: ArtifactStore, stored: StoredSrs): Promise<KzgSrs> {
  const { sha256 } = stored;
  let srs = srsCache.get(sha256);
  if (!srs) {
    srs = artifacts.get(sha256).then((bytes) => decodeSrs(bytes));
    // A failed read is a store problem worth retrying, not something to remember.
    srs.catch(() => srsCache.delete(sha256));
    srsCache.set(sha256, srs);
  }
  return srs;
}
