import { createRng, deriveSeed } from "../../protocol/random.js";

export interface SelectClientsParameters {
  online: readonly string[];
  clientsPerRound: number;
  /** Devices sampled = ceil(clientsPerRound × overSelection), so stragglers don't stall a round. */
  overSelection: number;
  seed: number;
  round: number;
}

/**
 * Samples the devices for a round, uniformly without replacement, reproducibly from the
 * job seed and round number. Over-selection asks more devices than the round needs:
 * the first `clientsPerRound` verified updates close the round, the rest arrive late.
 */
export function selectClients(parameters: SelectClientsParameters): string[] {
  const wanted = Math.ceil(parameters.clientsPerRound * parameters.overSelection - 1e-9);
  const pool = [...parameters.online].sort();
  createRng(deriveSeed(parameters.seed, parameters.round)).shuffle(pool);
  return pool.slice(0, Math.min(wanted, pool.length)).sort();
}
