/**
 * The one base class for fedproof errors: a short message, optional details, a stable
 * machine-readable code and the underlying cause. Subclasses pin their `name`, so logs
 * and clients can tell them apart without string matching on messages.
 */
export type FedproofErrorCode =
  | "INVALID_ARGUMENT"
  | "NOT_FOUND"
  | "ALREADY_EXISTS"
  | "FAILED_PRECONDITION"
  | "UNAUTHENTICATED"
  | "PERMISSION_DENIED"
  | "RESOURCE_EXHAUSTED"
  | "UNAVAILABLE"
  | "INTERNAL";

export interface FedproofErrorParameters {
  details?: string;
  cause?: unknown;
  code?: FedproofErrorCode;
}

export class FedproofError extends Error {
  override name = "FedproofError";
  readonly shortMessage: string;
  readonly details?: string;
  readonly code: FedproofErrorCode;

  constructor(shortMessage: string, parameters: FedproofErrorParameters = {}) {
    const message = parameters.details
      ? `${shortMessage}\n\nDetails: ${parameters.details}`
      : shortMessage;
    super(message, parameters.cause === undefined ? undefined : { cause: parameters.cause });
    this.shortMessage = shortMessage;
    this.details = parameters.details;
    this.code = parameters.code ?? "INTERNAL";
  }
}

/** Input that can never be accepted as it is: a bad field, a wrong shape, a malformed file. */
export class InvalidArgumentError extends FedproofError {
  override name = "InvalidArgumentError";
  constructor(shortMessage: string, parameters: Omit<FedproofErrorParameters, "code"> = {}) {
    super(shortMessage, { ...parameters, code: "INVALID_ARGUMENT" });
  }
}

/**
 * Quotes what a caller sent for an error message, cut to `max` characters: an error must
 * never echo a megabyte back (the reply would exceed the message limit and arrive as
 * RESOURCE_EXHAUSTED instead of the refusal it is).
 */
export function quote(value: unknown, max = 64): string {
  const text = typeof value === "string" ? value : String(value);
  if (text.length <= max) return JSON.stringify(text);
  return `${JSON.stringify(text.slice(0, max))}… (${text.length} characters)`;
}
