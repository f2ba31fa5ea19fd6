/**
 * The circuits a job with proofs is checked against: chosen from the spec when the job is
 * created, built (or found in the content-addressed cache), and stored with the job (by
 * JobStore.saveJobCircuits) so the verify workers, the artifact stream and the provenance
 * export all read the same keys.
 */
import { stat } from "node:fs/promises";
import type { Groth16VerificationKey } from "snarkjs";
import type { Hex } from "viem";
import type { BuildLogger, CircuitArtifacts } from "../../circuits/build.js";
import { buildCircuitsOffThread } from "../../circuits/build-off-thread.js";
import {
  type CircuitSpec,
  dataValidityCircuit,
  updateNormCircuit,
  wholeBlockChunkSize,
} from "../../circuits/circuit-catalog.js";
import { InvalidArgumentError } from "../../common/errors.js";
import { noiseProofParameters } from "../../protocol/aggregation/noise-bound.js";
import type { JobSpec } from "../../protocol/job/job-spec.js";
import {
  jobVerificationKeyHash,
  type VerificationKeys,
} from "../../protocol/provenance/job-vkey-hash.js";
import type { DataValidityParameters } from "../../protocol/proving/data-validity-parameters.js";
import { featureScaleFor } from "../../protocol/proving/feature-scale.js";
import type { UpdateNormParameters } from "../../protocol/proving/update-norm-parameters.js";
import { prepareJobSrs, type StoredSrs } from "./job-srs.js";

/** Bits of one stored feature value in data-validity records: bytes, like pixels. */
export const FEATURE_BITS = 8;

export type UpdateNormSpec = Extract<CircuitSpec, { kind: "update-norm" }>;
export type DataValiditySpec = Extract<CircuitSpec, { kind: "data-validity" }>;

export interface JobCircuitSpecs {
  updateNorm: UpdateNormSpec;
  dataValidity: DataValiditySpec;
}

/** Which circuits a spec (and its model's parameter count) needs; tests swap in TEST_CIRCUITS. */
export type CircuitPlan = (spec: JobSpec, paramCount: number) => JobCircuitSpecs;

/**
 * The chunk circuit for a model: the production chunk (a 2^16 domain, one bounded proving key
 * for every model size) — unless the whole model fits a smaller chunk of the same shape
 * (⌊253/bits⌋·(16k − 3) values, whole sponge blocks: see wholeBlockChunkSize), which then proves the model in one piece
 * for a fraction of the cost: a 68-parameter logistic regression padded to 3,345 values would
 * spend 98% of its proving time on zeros.
 */
export function chunkCircuitFor(bits: number, paramCount: number): UpdateNormSpec {
  const production = updateNormCircuit(bits) as UpdateNormSpec;
  for (let k = 1; wholeBlockChunkSize(bits, k) < production.n; k++) {
    const n = wholeBlockChunkSize(bits, k);
    if (n >= paramCount) return { kind: "update-norm", n, bits };
  }
  return production;
}

/**
 * Production plan: the chunk circuit for the job's bit width and model size (see
 * chunkCircuitFor), and a data-validity circuit for the schema's record width (up to 2^16
 * records per device) that opens the spec's `dataSpotChecks` records per round and checks
 * attester trees of the depth of the spec's attester set.
 */
export const productionCircuitPlan: CircuitPlan = (spec, paramCount) => ({
  updateNorm: chunkCircuitFor(spec.quantization.bits, paramCount),
  dataValidity: dataValidityCircuit({
    features: spec.schema.featureShape.reduce((a, b) => a * b, 1),
    featureBits: FEATURE_BITS,
    samples: spec.dataSpotChecks,
    // A job without attesters compiles no attester check (≈ 4,400 constraints fewer).
    attesterDepth: spec.attesters?.depth ?? 0,
  }) as DataValiditySpec,
});

// In protocol/: `fedproof verify` recomputes it from the spec and the circuit id.
export { featureScaleFor } from "../../protocol/proving/feature-scale.js";

export interface StoredCircuit {
  id: string;
  kind: "update-norm" | "data-validity";
  parameters: UpdateNormParameters | DataValidityParameters;
  verificationKey: Groth16VerificationKey;
  vkeyHash: Hex;
  wasmPath: string;
  zkeyPath: string;
  wasmSha256: string;
  zkeySha256: string;
  wasmBytes: number;
  zkeyBytes: number;
  insecure: boolean;
}

export interface JobCircuits {
  updateNorm: StoredCircuit & { parameters: UpdateNormParameters };
  dataValidity: StoredCircuit & { parameters: DataValidityParameters };
  /**
   * With central DP: the chunk circuit the coordinator proves its noise vector's norm with,
   * UpdateNormChunk(n, noise bits) with the devices' n (protocol/aggregation/noise-bound.ts).
   * The same template, wider values; its key is pinned with the others.
   */
  noiseNorm?: StoredCircuit & { parameters: UpdateNormParameters };
  featureScale: number;
  /**
   * The KZG SRS the chunks' commitments and openings are checked against (job-srs.ts): the
   * first n + 2 powers of the ptau the UpdateNorm key was set up with.
   */
  srs: StoredSrs;
  /** `jobVerificationKeyHash` over both keys and the SRS hash: what the chain pins for the job. */
  vkeyHash: Hex;
}

export interface PrepareJobCircuitsParameters {
  spec: JobSpec;
  paramCount: number;
  plan?: CircuitPlan;
  /** An operator's prepared powers-of-tau; without it the INSECURE development setup is used. */
  ptau?: string;
  cacheDir?: string;
  logger?: BuildLogger;
}

/** Builds (or finds cached) the job's circuits and describes them for storage. */
export async function prepareJobCircuits(
  parameters: PrepareJobCircuitsParameters,
): Promise<JobCircuits> {
  const { spec } = parameters;
  const specs = (parameters.plan ?? productionCircuitPlan)(spec, parameters.paramCount);
  const features = spec.schema.featureShape.reduce((a, b) => a * b, 1);
  if (specs.dataValidity.features !== features) {
    throw new InvalidArgumentError(
      `the data-validity circuit checks ${specs.dataValidity.features} features per record, the schema has ${features}`,
    );
  }
  // The anchored spec states k; a circuit that opens fewer records would check less than it says.
  if (specs.dataValidity.samples !== spec.dataSpotChecks) {
    throw new InvalidArgumentError(
      `the data-validity circuit opens ${specs.dataValidity.samples} records per round, the spec's dataSpotChecks is ${spec.dataSpotChecks}`,
    );
  }
  // The anchored spec pins the attester root; a circuit of another tree depth cannot prove
  // membership in it (and one without an attester check proves only self-attested data).
  if (spec.attesters && specs.dataValidity.attesterDepth !== spec.attesters.depth) {
    throw new InvalidArgumentError(
      `the job's attester set is a tree of depth ${spec.attesters.depth}, its data-validity circuit checks attester depth ${specs.dataValidity.attesterDepth}`,
    );
  }
  if (specs.updateNorm.bits !== spec.quantization.bits) {
    throw new InvalidArgumentError(
      `the chunk circuit proves ${specs.updateNorm.bits}-bit values, the job quantises to ${spec.quantization.bits} bits`,
    );
  }
  const noiseNorm = noiseCircuitFor(spec, parameters.paramCount, specs.updateNorm);
  // Off the main thread: a real schema's build takes minutes, during which the coordinator
  // must keep serving every other job's devices and calls.
  const built = await buildCircuitsOffThread({
    dev: !parameters.ptau,
    ptau: parameters.ptau,
    cacheDir: parameters.cacheDir,
    circuits: [specs.updateNorm, specs.dataValidity, ...(noiseNorm ? [noiseNorm] : [])],
    logger: parameters.logger,
  });
  const [updateNorm, dataValidity, noise] = await Promise.all(built.circuits.map(describe));
  const circuits = {
    ...(noise && noiseNorm
      ? { noiseNorm: { ...noise, parameters: { n: noiseNorm.n, bits: noiseNorm.bits } } }
      : {}),
    updateNorm: {
      ...updateNorm!,
      parameters: { n: specs.updateNorm.n, bits: specs.updateNorm.bits },
    },
    dataValidity: {
      ...dataValidity!,
      parameters: {
        depth: specs.dataValidity.depth,
        features: specs.dataValidity.features,
        samples: specs.dataValidity.samples,
        featureBits: specs.dataValidity.featureBits,
        labelBits: specs.dataValidity.labelBits,
        attesterDepth: specs.dataValidity.attesterDepth,
      },
    },
  };
  // The same ptau file the build set the UpdateNorm key up with (one per build).
  const srs = await prepareJobSrs({
    ptauPath: built.ptauPath,
    n: specs.updateNorm.n,
    cacheDir: parameters.cacheDir,
  });
  return {
    ...circuits,
    featureScale: featureScaleFor(spec.schema, specs.dataValidity.featureBits),
    srs,
    vkeyHash: jobVerificationKeyHash(verificationKeysOf(circuits), srs.hash),
  };
}

/**
 * The noise chunk circuit of a job with central DP and proofs: the devices' chunk size (the
 * noise is committed and summed chunk by chunk with theirs, over the same SRS) and the bits the
 * spec's largest noise needs. Undefined without DP.
 */
export function noiseCircuitFor(
  spec: JobSpec,
  paramCount: number,
  updateNorm: UpdateNormSpec,
): UpdateNormSpec | undefined {
  if (!spec.proofs || !(spec.privacy.noiseMultiplier > 0)) return undefined;
  const { bits } = noiseProofParameters(spec, paramCount);
  return { kind: "update-norm", n: updateNorm.n, bits };
}

async function describe(artifacts: CircuitArtifacts): Promise<StoredCircuit> {
  if (!artifacts.ready) {
    throw new InvalidArgumentError(
      `circuit ${artifacts.id} waits for its key ceremony (fedproof ceremony contribute) and cannot serve a job yet`,
    );
  }
  return {
    id: artifacts.id,
    kind: artifacts.spec.kind,
    parameters: artifacts.spec,
    verificationKey: artifacts.verificationKey,
    vkeyHash: artifacts.verificationKeySha256,
    wasmPath: artifacts.wasmPath,
    zkeyPath: artifacts.zkeyPath,
    wasmSha256: artifacts.wasmSha256,
    zkeySha256: artifacts.zkeySha256,
    wasmBytes: (await stat(artifacts.wasmPath)).size,
    zkeyBytes: artifacts.zkeyBytes,
    insecure: artifacts.insecure,
  };
}

/** The keys by circuit id, as the chain pin and the provenance bundle name them. */
export function verificationKeysOf(
  circuits: Pick<JobCircuits, "updateNorm" | "dataValidity" | "noiseNorm">,
): VerificationKeys {
  return {
    [circuits.updateNorm.id]: circuits.updateNorm.verificationKey,
    [circuits.dataValidity.id]: circuits.dataValidity.verificationKey,
    ...(circuits.noiseNorm ? { [circuits.noiseNorm.id]: circuits.noiseNorm.verificationKey } : {}),
  };
}
