import { Metadata, type ServiceError, type sendUnaryData, status } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { FedproofError, type FedproofErrorCode } from "../../common/errors.js";
import { StreamClosedError } from "../../proto/stream-write.js";

const STATUS_OF: Record<FedproofErrorCode, status> = {
  INVALID_ARGUMENT: status.INVALID_ARGUMENT,
  NOT_FOUND: status.NOT_FOUND,
  ALREADY_EXISTS: status.ALREADY_EXISTS,
  FAILED_PRECONDITION: status.FAILED_PRECONDITION,
  UNAUTHENTICATED: status.UNAUTHENTICATED,
  PERMISSION_DENIED: status.PERMISSION_DENIED,
  RESOURCE_EXHAUSTED: status.RESOURCE_EXHAUSTED,
  UNAVAILABLE: status.UNAVAILABLE,
  INTERNAL: status.INTERNAL,
};

/**
 * The one place where project errors become gRPC statuses. The error's class name travels
 * in the `fedproof-error` trailer so clients can branch on it without parsing messages;
 * anything unexpected becomes INTERNAL without leaking its internals.
 */
export function toServiceError(error: unknown, logger?: Logger): Partial<ServiceError> {
  const metadata = new Metadata();
  if (error instanceof FedproofError) {
    metadata.set("fedproof-error", error.name);
    const code = STATUS_OF[error.code];
    if (code === status.INTERNAL) logger?.error({ err: error }, "internal error");
    return { code, details: error.shortMessage, metadata };
  }
  logger?.error({ err: error }, "unexpected error in a gRPC handler");
  metadata.set("fedproof-error", "InternalError");
  return { code: status.INTERNAL, details: "internal error; see the coordinator's log", metadata };
}

/** Runs a unary handler's work and answers with its value or its mapped error. */
export function answerUnary<T>(
  work: () => Promise<T>,
  callback: sendUnaryData<T>,
  logger?: Logger,
): void {
  work().then(
    (value) => callback(null, value),
    (error: unknown) => callback(toServiceError(error, logger)),
  );
}

/**
 * Ends a server stream with the mapped status. grpc-js sends a status for an 'error'
 * event; `destroy(error)` would tear the stream down without one and leave the client hanging.
 * A stream whose peer is gone (StreamClosedError) has no one left to tell.
 */
export function failStream(
  call: { emit(event: "error", error: unknown): boolean },
  error: unknown,
  logger?: Logger,
): void {
  if (error instanceof StreamClosedError) {
    logger?.debug({ err: error }, "stream closed by its peer before the handler finished");
    return;
  }
  call.emit("error", toServiceError(error, logger));
}
