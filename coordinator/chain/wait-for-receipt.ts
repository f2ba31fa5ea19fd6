/**
 * Waits for a transaction's receipt, and notices when the node has lost the transaction.
 *
 * viem's `waitForTransactionReceipt` looks again only when the block number changes. A node that
 * restarts drops its pending pool (Anvil's `--state` dump keeps mined blocks, not the pool) and
 * often comes back at the same block height, so nothing changes: a dropped transaction was awaited
 * until viem's three-minute timeout, during which the anchor job sat in its lock doing nothing.
 * Here every poll asks for the receipt and, without one, whether the node still knows the
 * transaction; a transaction it has forgotten for `missingPolls` polls in a row is reported as
 * dropped, and an unreachable node fails at once. Both are transient: the anchor worker's retry
 * reads the registry first, so an anchor that did land is never sent twice.
 */
import {
  type Chain,
  type Hash,
  type PublicClient,
  TransactionNotFoundError,
  type TransactionReceipt,
  TransactionReceiptNotFoundError,
  type Transport,
  WaitForTransactionReceiptTimeoutError,
} from "viem";
import { TransactionDroppedError } from "./registry-errors.js";

export interface WaitForReceiptParameters {
  hash: Hash;
  /** Defaults to the client's polling interval. */
  pollingIntervalMs?: number;
  /** Give up (transiently, as viem does) after this long. Default 180 s, viem's default. */
  timeoutMs?: number;
  /**
   * Consecutive polls on which the node must not know the transaction before it counts as
   * dropped. More than one, so that a load-balanced endpoint whose replicas lag a little behind
   * the one that took the transaction does not make us send it again. Default 3.
   */
  missingPolls?: number;
}

export type WaitForReceiptReturnType = TransactionReceipt;

export async function waitForReceipt(
  publicClient: PublicClient<Transport, Chain>,
  parameters: WaitForReceiptParameters,
): Promise<WaitForReceiptReturnType> {
  const { hash } = parameters;
  const pollingIntervalMs = parameters.pollingIntervalMs ?? publicClient.pollingInterval;
  const deadline = Date.now() + (parameters.timeoutMs ?? 180_000);
  const missingPolls = parameters.missingPolls ?? 3;
  let missing = 0;
  for (;;) {
    try {
      return await publicClient.getTransactionReceipt({ hash });
    } catch (error) {
      if (!(error instanceof TransactionReceiptNotFoundError)) throw error;
    }
    // Asked after the receipt: a transaction mined in between is still found, by hash.
    try {
      await publicClient.getTransaction({ hash });
      missing = 0;
    } catch (error) {
      if (!(error instanceof TransactionNotFoundError)) throw error;
      missing += 1;
      if (missing >= missingPolls) {
        throw new TransactionDroppedError(
          `transaction ${hash} was dropped by the node before it was mined`,
          { details: `not known to the node on ${missing} polls in a row`, cause: error },
        );
      }
    }
    if (Date.now() > deadline) throw new WaitForTransactionReceiptTimeoutError({ hash });
    await new Promise((resolve) => setTimeout(resolve, pollingIntervalMs));
  }
}
