import type { Prover } from "../../protocol/proving/prove-groth16.js";
import { createProverPool } from "./prover-pool.js";

export interface CreateWorkerProverParameters {
  /** Witness generator: bytes or a file path. */
  wasm: Uint8Array | string;
  /** Proving key: bytes or a file path. */
  zkey: Uint8Array | string;
}

export interface WorkerProver {
  prove: Prover;
  /** Stops the worker thread (and snarkjs's own threads inside it). */
  close(): Promise<void>;
}

/**
 * A prover on one worker thread: witness generation and the Groth16 MSMs take seconds of CPU
 * per proof, and on the main thread they would stall every gRPC stream and timer the device
 * has open. The worker proves one input at a time (queue as many as you like) and lets
 * snarkjs spread each proof over every core; `createProverPool` runs several workers at once.
 */
export async function createWorkerProver(
  parameters: CreateWorkerProverParameters,
): Promise<WorkerProver> {
  const pool = await createProverPool({ ...parameters, size: 1 });
  return { prove: pool.prove, close: pool.close };
}
