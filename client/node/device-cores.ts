import { availableParallelism } from "node:os";
import { InvalidArgumentError } from "../../common/errors.js";

/**
 * Environment variable: the cores one device process may spend on its proof work (hashing its
 * dataset's leaves, proving), when it shares the machine with other devices. `fedproof demo`
 * runs N device processes on one machine and gives each max(1, ⌊cores / N⌋): N processes that
 * each start a thread per core, and snarkjs threads per core inside each prover, only fight
 * over the same cores, with a proving key's copy in memory per thread.
 */
export const DEVICE_CORES_ENV = "FEDPROOF_DEVICE_CORES";

/** The cores this device process may use for proof work: $FEDPROOF_DEVICE_CORES, else all. */
export function deviceCores(): number {
  const configured = process.env[DEVICE_CORES_ENV];
  if (configured === undefined || configured === "") return availableParallelism();
  const value = Number(configured);
  if (!Number.isInteger(value) || value < 1) {
    throw new InvalidArgumentError(
      `${DEVICE_CORES_ENV} must be a positive integer, got "${configured}"`,
    );
  }
  return value;
}

/** Each of `processes` device processes' share of this machine's cores (at least one). */
export function coresPerDeviceProcess(processes: number): number {
  return Math.max(1, Math.floor(availableParallelism() / Math.max(1, processes)));
}
