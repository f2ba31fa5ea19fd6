import { FedproofError, type FedproofErrorParameters } from "../common/errors.js";

/**
 * The peer went away (cancelled, closed, failed or ended the call) before a message could be
 * written. Nothing more can reach it, so the writer should stop and release what it holds.
 */
export class StreamClosedError extends FedproofError {
  override name = "StreamClosedError";
  constructor(shortMessage: string, parameters: Omit<FedproofErrorParameters, "code"> = {}) {
    super(shortMessage, { ...parameters, code: "UNAVAILABLE" });
  }
}

/**
 * What a back-pressured write needs of a grpc-js call: a server stream (`ServerWritableStream`,
 * `ServerDuplexStream`) and a client upload (`ClientWritableStream`) both fit.
 */
export interface WritableCall<T> {
  write(message: T): boolean;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  /** Set by grpc-js on server calls once the client has cancelled. */
  readonly cancelled?: boolean;
  readonly destroyed?: boolean;
  readonly writableEnded?: boolean;
}

/** Writes one message; resolves once the call can take more, rejects once the peer is gone. */
export type StreamWrite<T> = (message: T) => Promise<void>;

/**
 * The one back-pressured write for gRPC streams. Waiting for `drain` alone hangs forever when
 * the peer cancels mid-stream (grpc-js never drains a dead call), leaving the handler running
 * and its file open; so a write also settles, with a StreamClosedError, when the call is
 * cancelled, closed, fails or (client side) receives its status. Create one per call, before
 * the first write, so that a cancellation between two writes is not missed.
 */
export function createStreamWrite<T>(call: WritableCall<T>): StreamWrite<T> {
  let closed: StreamClosedError | undefined;
  const waiting = new Set<{ resolve(): void; reject(error: Error): void }>();
  const close = (error: StreamClosedError) => {
    closed ??= error;
    for (const waiter of waiting) waiter.reject(closed);
    waiting.clear();
  };
  call.on("drain", () => {
    for (const waiter of waiting) waiter.resolve();
    waiting.clear();
  });
  call.on("cancelled", () => close(new StreamClosedError("the peer cancelled the call")));
  call.on("close", () => close(new StreamClosedError("the stream closed")));
  call.on("error", (error: unknown) =>
    close(new StreamClosedError("the stream failed", { cause: error })),
  );
  call.on("status", (status) => {
    const { code, details } = status as { code: number; details: string };
    close(
      new StreamClosedError("the call ended before the stream was written", {
        details: `status ${code}: ${details}`,
      }),
    );
  });

  return (message) => {
    if (!closed && (call.cancelled || call.destroyed || call.writableEnded)) {
      close(new StreamClosedError("the stream is already closed"));
    }
    if (closed) return Promise.reject(closed);
    if (call.write(message)) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      waiting.add({ resolve, reject });
    });
  };
}
