import type { CircuitInfo } from "../../proto/generated/fedproof/v1/CircuitInfo.js";
import type { ProofSetup } from "../../proto/generated/fedproof/v1/ProofSetup.js";
import type { JobCircuits, StoredCircuit } from "../jobs/job-circuits.js";

/** What a device needs to fetch, check and run a job's circuits. */
export function proofSetup(circuits: JobCircuits, minSamples: number): ProofSetup {
  return {
    updateNorm: circuitInfo(circuits.updateNorm),
    dataValidity: circuitInfo(circuits.dataValidity),
    featureScale: circuits.featureScale,
    minSamples,
    // Jobs stored before KZG commitments have no SRS: devices then see none and cannot prove.
    srsSha256: circuits.srs?.sha256 ?? "",
    srsBytes: String(circuits.srs?.bytes ?? 0),
    srsSize: circuits.srs?.size ?? 0,
  };
}

function circuitInfo(circuit: StoredCircuit): CircuitInfo {
  return {
    circuitId: circuit.id,
    kind: circuit.kind,
    wasmSha256: circuit.wasmSha256,
    zkeySha256: circuit.zkeySha256,
    wasmBytes: String(circuit.wasmBytes),
    zkeyBytes: String(circuit.zkeyBytes),
    vkeyHash: circuit.vkeyHash,
    parametersJson: JSON.stringify(circuit.parameters),
    insecure: circuit.insecure,
  };
}
