import { FedproofError, type FedproofErrorParameters } from "../../common/errors.js";

type Parameters = Omit<FedproofErrorParameters, "code">;

/**
 * A robust rule was asked to aggregate fewer updates than its guarantee needs (Krum with
 * n < 2f + 3, Multi-Krum selecting more than n − f). Not a malformed input: the round may
 * succeed once more updates arrive, so the round engine, not the caller, must act.
 */
export class NotEnoughUpdatesError extends FedproofError {
  override name = "NotEnoughUpdatesError";
  constructor(shortMessage: string, parameters: Parameters = {}) {
    super(shortMessage, { ...parameters, code: "FAILED_PRECONDITION" });
  }
}
