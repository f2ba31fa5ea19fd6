import type { CircuitInput } from "snarkjs";
import type { ProofWithSignals } from "../../../protocol/proving/prove-groth16.js";

export interface BrowserProver {
  prove(input: CircuitInput): Promise<ProofWithSignals>;
  close(): void;
}

type Reply =
  | ({ id: number; ok: true } & ProofWithSignals)
  | { id: number; ok: false; message: string };

/**
 * snarkjs in a Web Worker, one per circuit: witness generation and the Groth16 MSMs take
 * seconds of CPU per chunk and would freeze the page (and its task stream) on the main thread.
 */
export function createBrowserProver(artifacts: {
  wasm: Uint8Array;
  zkey: Uint8Array;
}): BrowserProver {
  const worker = new Worker(new URL("./prove-worker.ts", import.meta.url), { type: "module" });
  worker.postMessage({ kind: "init", wasm: artifacts.wasm, zkey: artifacts.zkey });
  const pending = new Map<number, { resolve(p: ProofWithSignals): void; reject(e: Error): void }>();
  let next = 0;
  worker.onmessage = ({ data }: MessageEvent<Reply>) => {
    const waiter = pending.get(data.id);
    pending.delete(data.id);
    if (!waiter) return;
    if (data.ok) waiter.resolve({ proof: data.proof, publicSignals: data.publicSignals });
    else waiter.reject(new Error(`proof failed: ${data.message}`));
  };
  worker.onerror = (event) => {
    for (const waiter of pending.values())
      waiter.reject(new Error(`prover worker: ${event.message}`));
    pending.clear();
  };
  return {
    prove(input) {
      const id = next++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        worker.postMessage({ kind: "prove", id, input });
      });
    },
    close: () => worker.terminate(),
  };
}
