import { InvalidArgumentError } from "../../common/errors.js";
import type { BabyJubjubPublicKey } from "../proving/eddsa-poseidon.js";
import { idToField } from "../proving/field.js";
import { poseidonHash } from "../proving/poseidon.js";

/**
 * What a device signs with its Baby Jubjub key to Join a job. Every field a Join sets is in
 * the message, so a captured Join cannot be replayed (the nonce is the coordinator's, fresh
 * and single-use), moved to another job or device id, or have its payout address, dataset
 * commitment or sample count changed in transit. The domain tag keeps a Join signature from
 * ever being valid as a dataset-commitment signature (which signs Poseidon(root, count)).
 */
export interface JoinMessageParameters {
  jobId: string;
  deviceId: string;
  /** The coordinator's nonce from GetJoinChallenge, 0x-less hex of 31 bytes or fewer. */
  nonce: string;
  publicKey: BabyJubjubPublicKey;
  /** EVM address or "" (credits to an address derived from the device id). */
  payoutAddress: string;
  /** The dataset commitment field element (0 for a job without proofs). */
  datasetCommitment: bigint;
  samples: number;
}

/** "fedproof.join.v1" as a field element: the domain separator of Join signatures. */
export const JOIN_DOMAIN = idToField("fedproof.join.v1");

export function joinMessage(parameters: JoinMessageParameters): bigint {
  const { jobId, deviceId, nonce, publicKey, payoutAddress, datasetCommitment, samples } =
    parameters;
  if (!/^[0-9a-f]{2,62}$/.test(nonce)) {
    throw new InvalidArgumentError("a join nonce is 1..31 bytes of lower-case hex");
  }
  if (!Number.isSafeInteger(samples) || samples < 0) {
    throw new InvalidArgumentError(`samples must be a non-negative integer, got ${samples}`);
  }
  return poseidonHash([
    JOIN_DOMAIN,
    idToField(jobId),
    idToField(deviceId),
    BigInt(`0x${nonce}`),
    publicKey.x,
    publicKey.y,
    payoutAddress === "" ? 0n : idToField(payoutAddress.toLowerCase()),
    datasetCommitment,
    BigInt(samples),
  ]);
}
