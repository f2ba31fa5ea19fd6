import type { CircuitInput, Groth16Proof } from "snarkjs";
import * as snarkjs from "snarkjs";
import { FedproofError } from "../../common/errors.js";

/**
 * No proof could be made. Almost always the witness breaks a constraint: an update above
 * the clip bound, a record outside the schema, a signature by another key. Retrying cannot help.
 */
export class ProofGenerationError extends FedproofError {
  override name = "ProofGenerationError";
  constructor(shortMessage: string, cause?: unknown) {
    super(shortMessage, {
      cause,
      code: "FAILED_PRECONDITION",
      details:
        cause instanceof Error ? cause.message : cause === undefined ? undefined : String(cause),
    });
  }
}

/** A Groth16 proof with the public signals it proves, both in snarkjs's JSON format. */
export interface ProofWithSignals {
  proof: Groth16Proof;
  publicSignals: string[];
}

/** The two files a device needs to prove for one circuit, as bytes (fetched by hash). */
export interface ProvingArtifacts {
  /** The circom witness generator (`<name>.wasm`). */
  wasm: Uint8Array;
  /** The Groth16 proving key (`<name>.zkey`). */
  zkey: Uint8Array;
}

export interface ProveGroth16Parameters extends ProvingArtifacts {
  input: CircuitInput;
}

/**
 * Computes the witness with circom's wasm generator and proves with snarkjs, entirely in
 * memory so the same code runs in a browser. A witness that violates a constraint (an update
 * above the clip bound, a record outside the schema) makes the generator throw: no proof
 * exists for it.
 */
export async function proveGroth16(parameters: ProveGroth16Parameters): Promise<ProofWithSignals> {
  try {
    const { proof, publicSignals } = await snarkjs.groth16.fullProve(
      parameters.input,
      { type: "mem", data: parameters.wasm },
      { type: "mem", data: parameters.zkey },
    );
    return { proof, publicSignals };
  } catch (error) {
    throw new ProofGenerationError("the witness does not satisfy the circuit", error);
  }
}

/**
 * Something that turns a circuit input into a proof: in-thread, in a worker, remote. Devices
 * prove their updates with one (client/), the coordinator its DP noise (coordinator/privacy/).
 */
export type Prover = (input: CircuitInput) => Promise<ProofWithSignals>;

/** A prover that runs in the calling thread (browsers with their own worker, tests, the coordinator). */
export function inThreadProver(artifacts: ProvingArtifacts): Prover {
  return (input) => proveGroth16({ ...artifacts, input });
}
