/**
 * pino options that keep secrets out of every log line: fields that hold a secret by name are
 * censored (a URL keeps what `redact` leaves of it), and every other string, error messages
 * and stacks included, goes through `redact`, because libraries put URLs with credentials in
 * their messages (ioredis, viem's `HttpRequestError`).
 */
import pino, { type LoggerOptions } from "pino";
import { REDACTED, redact } from "./redact.js";

/** Field names that hold a secret, at the top level or one object down. */
const SECRET_FIELDS = [
  "token",
  "bearer",
  "authorization",
  "sessionToken",
  "password",
  "privateKey",
  "key",
  "chainKey",
  "redisUrl",
  "rpcUrl",
  "url",
];

export const REDACTED_LOG_PATHS: readonly string[] = [
  ...SECRET_FIELDS,
  ...SECRET_FIELDS.map((field) => `*.${field}`),
  "headers.authorization",
  "*.headers.authorization",
];

/** A URL keeps its host (useful in a log); anything else named like a secret goes entirely. */
function censor(value: unknown): unknown {
  if (typeof value === "string" && /^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return redact(value);
  return REDACTED;
}

/**
 * Strings redacted inside arrays and plain objects. Errors are left for the `err` serializer
 * when logged (`unwrapErrors` false), and serialized and redacted inside it.
 */
function redactDeep(value: unknown, unwrapErrors: boolean, depth = 0): unknown {
  if (typeof value === "string") return redact(value);
  if (depth > 4 || value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map((item) => redactDeep(item, unwrapErrors, depth + 1));
  if (value instanceof Error) {
    return unwrapErrors ? redactDeep({ ...pino.stdSerializers.err(value) }, true, depth) : value;
  }
  const prototype = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) return value;
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    out[key] = redactDeep(item, unwrapErrors, depth + 1);
  }
  return out;
}

export const loggerRedaction: Pick<LoggerOptions, "redact" | "serializers" | "hooks"> = {
  redact: { paths: [...REDACTED_LOG_PATHS], censor },
  serializers: {
    err: (error: Error) => redactDeep(error, true),
  },
  hooks: {
    // The message and any string or plain-object field (`err: error.message`, `{ cause }`).
    logMethod(args, method) {
      const redacted = args.map((arg) => redactDeep(arg, false) as typeof arg);
      method.apply(this, redacted as Parameters<typeof method>);
    },
  },
};
