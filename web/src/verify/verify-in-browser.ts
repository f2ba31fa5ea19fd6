import type { Groth16VerificationKey } from "snarkjs";
import * as snarkjs from "snarkjs";
import type { JobInfo__Output } from "../../../proto/generated/fedproof/v1/JobInfo.js";
import type { RoundProvenance__Output } from "../../../proto/generated/fedproof/v1/RoundProvenance.js";
import { bundleFromCoordinator } from "../../../verifier/provenance-bundle.js";
import { type VerificationReport, verifyModel } from "../../../verifier/verify-model.js";
import { api } from "../api.js";
import { downloadChunked } from "../rpc/chunked-download.js";
import { COORDINATOR, JOBS, PROVENANCE } from "../rpc/coordinator-api.js";

export interface VerifyInBrowserParameters {
  modelBytes: Uint8Array;
  jobId: string;
  /** The chain's JSON-RPC endpoint, as the page reaches it. */
  rpcUrl: string;
  /** Defaults to the registry the coordinator names for the job. */
  registry?: string;
  onStep?: (message: string) => void;
  signal?: AbortSignal;
}

export interface VerifyInBrowserReturnType {
  report: VerificationReport;
  /** Circuit ids whose verification keys were taken from the job's proving keys. */
  keysFrom: string[];
}

interface CircuitInfo {
  circuitId: string;
  zkeySha256: string;
}

/**
 * `fedproof verify --coordinator` in the page: the same bundle assembly and the same
 * verifyModel, with the coordinator reached over gRPC-web and the chain over the JSON-RPC URL.
 * Nothing the coordinator says is trusted: the model's hash is looked up on chain, and the
 * verification keys (read here out of the job's proving keys, each fetched by its hash) must
 * hash to what the job pinned on chain.
 */
export async function verifyInBrowser(
  parameters: VerifyInBrowserParameters,
): Promise<VerifyInBrowserReturnType> {
  const { jobId, signal } = parameters;
  const step = parameters.onStep ?? (() => {});
  step(`reading job ${jobId} from the coordinator`);
  const info = await api.unary<JobInfo__Output>(JOBS, "GetJob", { jobId }, { signal });
  const setup = await api.unary<{
    updateNorm?: CircuitInfo | null;
    dataValidity?: CircuitInfo | null;
    srsSha256?: string;
  }>(COORDINATOR, "GetProofSetup", { jobId }, { signal });
  const verificationKeys: Record<string, Groth16VerificationKey> = {};
  for (const circuit of [setup.updateNorm, setup.dataValidity]) {
    if (!circuit?.circuitId) continue;
    step(`reading the verification key of ${circuit.circuitId} out of its proving key`);
    const zkey = await downloadChunked({
      client: api,
      method: "GetArtifact",
      request: { sha256: circuit.zkeySha256 },
      sha256: circuit.zkeySha256,
      signal,
    });
    verificationKeys[circuit.circuitId] = await snarkjs.zKey.exportVerificationKey({
      type: "mem",
      data: zkey,
    });
  }
  // The KZG SRS the chunk commitments are checked against; its hash is pinned with the keys.
  const kzgSrs = setup.srsSha256
    ? await downloadChunked({
        client: api,
        method: "GetArtifact",
        request: { sha256: setup.srsSha256 },
        sha256: setup.srsSha256,
        signal,
      })
    : undefined;
  step("fetching the provenance bundle");
  const bundle = await bundleFromCoordinator({
    jobId,
    info,
    chain: { rpcUrl: parameters.rpcUrl, registry: parameters.registry || undefined },
    verificationKeys,
    ...(kzgSrs ? { kzgSrs } : {}),
    getRound: (round) =>
      api.unary<RoundProvenance__Output>(PROVENANCE, "GetRound", { jobId, round }, { signal }),
  });
  step(
    `checking the model against registry ${bundle.chain.registry} on chain ${bundle.chain.chainId}`,
  );
  const report = await verifyModel({
    modelBytes: parameters.modelBytes,
    rpcUrl: parameters.rpcUrl,
    registry: bundle.chain.registry,
    chainId: bundle.chain.chainId,
    bundle,
  });
  return { report, keysFrom: Object.keys(verificationKeys) };
}
