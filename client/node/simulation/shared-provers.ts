import type { CoordinatorClient } from "../../../proto/generated/fedproof/v1/Coordinator.js";
import type { ProofSetup__Output } from "../../../proto/generated/fedproof/v1/ProofSetup.js";
import { downloadArtifact } from "../device-proofs.js";
import { createWorkerProver, type WorkerProver } from "../prove-worker.js";

export interface SharedProvers {
  updateNorm: WorkerProver;
  dataValidity: WorkerProver;
  close(): Promise<void>;
}

/**
 * One prover thread per circuit for all the virtual devices of a process. A device of its own
 * would download the proving keys and start two threads (each with snarkjs's own pool) for
 * itself; a thousand of those do not fit in memory, and on a few cores they would only queue
 * for the same CPUs. Shared, the selected devices' proofs run one after another per circuit,
 * and each device still proves with its own key, data and salt.
 */
export async function startSharedProvers(
  client: CoordinatorClient,
  setup: ProofSetup__Output,
): Promise<SharedProvers> {
  const [uWasm, uZkey, dWasm, dZkey] = await Promise.all([
    downloadArtifact(client, setup.updateNorm!.wasmSha256),
    downloadArtifact(client, setup.updateNorm!.zkeySha256),
    downloadArtifact(client, setup.dataValidity!.wasmSha256),
    downloadArtifact(client, setup.dataValidity!.zkeySha256),
  ]);
  const updateNorm = await createWorkerProver({ wasm: uWasm, zkey: uZkey });
  const dataValidity = await createWorkerProver({ wasm: dWasm, zkey: dZkey }).catch(
    async (error: unknown) => {
      await updateNorm.close();
      throw error;
    },
  );
  return {
    updateNorm,
    dataValidity,
    async close() {
      await Promise.all([updateNorm.close(), dataValidity.close()]);
    },
  };
}
