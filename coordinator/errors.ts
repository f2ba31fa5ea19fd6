import {
  FedproofError,
  type FedproofErrorParameters,
  InvalidArgumentError,
} from "../common/errors.js";

export { FedproofError, InvalidArgumentError };

type Parameters = Omit<FedproofErrorParameters, "code">;

export class NotFoundError extends FedproofError {
  override name = "NotFoundError";
  constructor(shortMessage: string, parameters: Parameters = {}) {
    super(shortMessage, { ...parameters, code: "NOT_FOUND" });
  }
}

export class UnauthenticatedError extends FedproofError {
  override name = "UnauthenticatedError";
  constructor(shortMessage: string, parameters: Parameters = {}) {
    super(shortMessage, { ...parameters, code: "UNAUTHENTICATED" });
  }
}

export class PermissionDeniedError extends FedproofError {
  override name = "PermissionDeniedError";
  constructor(shortMessage: string, parameters: Parameters = {}) {
    super(shortMessage, { ...parameters, code: "PERMISSION_DENIED" });
  }
}

/** A state-machine move that the transition table does not allow. */
export class InvalidTransitionError extends FedproofError {
  override name = "InvalidTransitionError";
  constructor(shortMessage: string, parameters: Parameters = {}) {
    super(shortMessage, { ...parameters, code: "FAILED_PRECONDITION" });
  }
}

/** An update for a round that is no longer collecting updates: the device was too late. */
export class RoundClosedError extends FedproofError {
  override name = "RoundClosedError";
  constructor(shortMessage: string, parameters: Parameters = {}) {
    super(shortMessage, { ...parameters, code: "FAILED_PRECONDITION" });
  }
}

export class JobNotRunningError extends FedproofError {
  override name = "JobNotRunningError";
  constructor(shortMessage: string, parameters: Parameters = {}) {
    super(shortMessage, { ...parameters, code: "FAILED_PRECONDITION" });
  }
}

export class AlreadyExistsError extends FedproofError {
  override name = "AlreadyExistsError";
  constructor(shortMessage: string, parameters: Parameters = {}) {
    super(shortMessage, { ...parameters, code: "ALREADY_EXISTS" });
  }
}

/** The artifact store holds bytes whose hash no longer matches their name. */
export class ArtifactCorruptError extends FedproofError {
  override name = "ArtifactCorruptError";
  constructor(shortMessage: string, parameters: Parameters = {}) {
    super(shortMessage, { ...parameters, code: "INTERNAL" });
  }
}

/** This coordinator is stopping; the device should reconnect (to it after a restart, or another). */
export class CoordinatorShuttingDownError extends FedproofError {
  override name = "CoordinatorShuttingDownError";
  constructor(shortMessage: string, parameters: Parameters = {}) {
    super(shortMessage, { ...parameters, code: "UNAVAILABLE" });
  }
}

/** Too many Joins for one job in a short time: the device should retry shortly. */
export class JoinRateLimitedError extends FedproofError {
  override name = "JoinRateLimitedError";
  constructor(shortMessage: string, parameters: Parameters = {}) {
    super(shortMessage, { ...parameters, code: "RESOURCE_EXHAUSTED" });
  }
}

/** A re-Join that would change what the first Join fixed (dataset, sample count, payout). */
export class EnrolmentFrozenError extends FedproofError {
  override name = "EnrolmentFrozenError";
  constructor(shortMessage: string, parameters: Parameters = {}) {
    super(shortMessage, { ...parameters, code: "FAILED_PRECONDITION" });
  }
}
