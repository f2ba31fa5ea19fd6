import type { CircuitInput, Groth16Proof } from "snarkjs";

/** A Groth16 proof with the public signals it proves, both in snarkjs's JSON format. */
export interface ProofWithSignals {
  proof: Groth16Proof;
  publicSignals: string[];
}

/**
 * Something that turns a circuit input into a proof: in-thread, in a worker, remote. Devices
 * prove their updates with one (client/), the coordinator its DP noise (coordinator/privacy/).
 */
export type Prover = (input: CircuitInput) => Promise<ProofWithSignals>;
