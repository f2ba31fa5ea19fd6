import { EventEmitter } from "node:events";
import type { IncomingMessage, ServerResponse } from "node:http";
import { Readable, Writable } from "node:stream";
import {
  Metadata,
  type MethodDefinition,
  type ServiceDefinition,
  status,
  type UntypedServiceImplementation,
} from "@grpc/grpc-js";
import type { Logger } from "pino";
import { MAX_MESSAGE_BYTES } from "../../proto/load.js";

/** One service as the native server has it: its definition and the handler object. */
export interface WebService {
  definition: ServiceDefinition;
  implementation: UntypedServiceImplementation;
}

export interface GrpcStatus {
  code: number;
  details: string;
  metadata?: Metadata | null;
}

export interface CreateGrpcWebHandlerParameters {
  services: readonly WebService[];
  logger: Logger;
  maxMessageBytes?: number;
}

/** Answers one gRPC-web request; the caller has already checked method, path and origin. */
export type GrpcWebHandler = (
  request: IncomingMessage,
  response: ServerResponse,
  extraHeaders: Record<string, string>,
) => void;

interface Route {
  method: MethodDefinition<unknown, unknown>;
  // The handler object's function, typed by what kind of call it takes.
  handler: (...args: unknown[]) => void;
}

const GRPC_WEB_CONTENT_TYPE = "application/grpc-web+proto";

// HTTP's own headers, and gRPC's wire headers, are not call metadata.
const NOT_METADATA = new Set([
  "host",
  "connection",
  "content-type",
  "content-length",
  "accept",
  "accept-encoding",
  "accept-language",
  "cache-control",
  "pragma",
  "origin",
  "referer",
  "cookie",
  "te",
  "transfer-encoding",
  "keep-alive",
  "x-grpc-web",
  "grpc-timeout",
  "grpc-encoding",
  "grpc-accept-encoding",
]);

/**
 * gRPC-web (binary, HTTP/1.1) in front of the native server's own handler objects: each
 * request becomes a call object shaped like grpc-js's (request, metadata, cancelled and the
 * 'cancelled' event; write/end and back-pressure for server streams; an async-iterable
 * reader for client streams), so every check a handler makes applies on both transports.
 * Messages are encoded by the same proto-loader serializers the native server uses.
 */
export function createGrpcWebHandler(parameters: CreateGrpcWebHandlerParameters): GrpcWebHandler {
  const { logger } = parameters;
  const maxMessageBytes = parameters.maxMessageBytes ?? MAX_MESSAGE_BYTES;
  const routes = new Map<string, Route>();
  for (const { definition, implementation } of parameters.services) {
    for (const [name, method] of Object.entries(definition)) {
      const handler = implementation[name];
      if (typeof handler === "function") {
        routes.set(method.path, { method, handler: handler as Route["handler"] });
      }
    }
  }

  return (request, response, extraHeaders) => {
    const reply = new GrpcWebReply(response, extraHeaders);
    const route = routes.get(request.url?.split("?")[0] ?? "");
    if (!route) {
      request.resume();
      return reply.finish({ code: status.UNIMPLEMENTED, details: `no method ${request.url}` });
    }
    const contentType = String(request.headers["content-type"] ?? "");
    if (!contentType.startsWith("application/grpc-web") || contentType.includes("text")) {
      request.resume();
      return reply.finish({
        code: status.INVALID_ARGUMENT,
        details: `content-type ${contentType || "(none)"} is not ${GRPC_WEB_CONTENT_TYPE}`,
      });
    }
    const { method } = route;
    const metadata = metadataOf(request);
    const peer = `${request.socket.remoteAddress}:${request.socket.remotePort}`;
    const context = { metadata, path: method.path, peer, deadline: deadlineOf(request) };
    const frames = readFrames(request, maxMessageBytes);
    const decode = (bytes: Buffer) => method.requestDeserialize(bytes);
    const encode = (message: unknown) => method.responseSerialize(message);

    if (method.requestStream && method.responseStream) {
      request.resume();
      return reply.finish({
        code: status.UNIMPLEMENTED,
        details: "bidirectional streams are not served over gRPC-web",
      });
    }

    if (method.requestStream) {
      const call = new WebReadableCall(context, frames, decode);
      reply.onCancel(() => call.cancel());
      route.handler(call, unaryCallback(reply, encode, logger));
      return;
    }

    void frames.single().then(
      (bytes) => {
        let message: unknown;
        try {
          message = decode(bytes);
        } catch (error) {
          logger.debug({ err: error, path: method.path }, "undecodable gRPC-web request");
          return reply.finish({ code: status.INTERNAL, details: "error deserializing request" });
        }
        if (method.responseStream) {
          const call = new WebWritableCall(context, message, reply, encode);
          reply.onCancel(() => call.cancel());
          route.handler(call);
        } else {
          const call = new WebUnaryCall(context, message);
          reply.onCancel(() => call.cancel());
          route.handler(call, unaryCallback(reply, encode, logger));
        }
      },
      (error: GrpcStatus) => reply.finish(error),
    );
  };
}

function unaryCallback(
  reply: GrpcWebReply,
  encode: (message: unknown) => Buffer,
  logger: Logger,
): (error: unknown, value?: unknown, trailer?: Metadata) => void {
  return (error, value, trailer) => {
    if (error) return reply.finish(statusOfError(error));
    let bytes: Buffer;
    try {
      bytes = encode(value);
    } catch (encodeError) {
      logger.error({ err: encodeError }, "a handler answered a message that does not encode");
      return reply.finish({ code: status.INTERNAL, details: "error serializing response" });
    }
    reply.message(bytes);
    reply.finish({ code: status.OK, details: "", metadata: trailer });
  };
}

/** What grpc-js makes of an error a handler passes on: its code and details, else UNKNOWN. */
export function statusOfError(error: unknown): GrpcStatus {
  const value = (error ?? {}) as { code?: unknown; details?: unknown; message?: unknown };
  const metadata = (error as { metadata?: unknown })?.metadata;
  const result: GrpcStatus = {
    code: status.UNKNOWN,
    details: typeof value.message === "string" ? value.message : "Unknown Error",
    metadata: metadata instanceof Metadata ? metadata : null,
  };
  if (typeof value.code === "number" && Number.isInteger(value.code)) {
    result.code = value.code;
    if (typeof value.details === "string") result.details = value.details;
  }
  return result;
}

/** The response side: headers once, length-prefixed messages, then one trailers frame. */
class GrpcWebReply {
  private finished = false;
  private readonly cancelListeners: (() => void)[] = [];

  constructor(
    readonly response: ServerResponse,
    private readonly extraHeaders: Record<string, string>,
  ) {
    response.on("close", () => {
      if (this.finished && response.writableFinished) return;
      this.finished = true;
      for (const listener of this.cancelListeners) listener();
    });
  }

  get done(): boolean {
    return this.finished;
  }

  onCancel(listener: () => void): void {
    this.cancelListeners.push(listener);
  }

  /** Writes one message; false when the socket wants the caller to wait for 'drain'. */
  message(bytes: Buffer): boolean {
    this.sendHeaders();
    return this.response.write(frame(0x00, bytes));
  }

  finish(result: GrpcStatus): void {
    if (this.finished) return;
    this.finished = true;
    this.sendHeaders();
    const lines = [
      `grpc-status:${result.code}`,
      `grpc-message:${encodeURIComponent(result.details)}`,
    ];
    for (const [key, values] of Object.entries(result.metadata?.toHttp2Headers() ?? {})) {
      for (const value of Array.isArray(values) ? values : [values]) lines.push(`${key}:${value}`);
    }
    this.response.end(frame(0x80, Buffer.from(`${lines.join("\r\n")}\r\n`)));
  }

  private sendHeaders(): void {
    if (this.response.headersSent) return;
    this.response.writeHead(200, {
      "content-type": GRPC_WEB_CONTENT_TYPE,
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
      ...this.extraHeaders,
    });
    // Streams go out as they are written: a task event must not sit in a buffer.
    this.response.flushHeaders();
  }
}

function frame(flag: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt8(flag, 0);
  header.writeUInt32BE(payload.byteLength, 1);
  return Buffer.concat([header, payload]);
}

interface CallContext {
  metadata: Metadata;
  path: string;
  peer: string;
  deadline: number;
}

// TypeScript accepts a class expression over a generic base only with this exact signature.
// biome-ignore lint/suspicious/noExplicitAny: the mixin rule requires `...args: any[]`
type CallBase = abstract new (...args: any[]) => EventEmitter;

/**
 * The parts of a grpc-js server call every kind shares, on the Node class each kind is
 * (EventEmitter, Writable, Readable), so a handler sees one surface on either transport.
 */
function withCallSurface<TBase extends CallBase>(Base: TBase) {
  abstract class ServerCall extends Base {
    cancelled = false;
    protected abstract readonly context: CallContext;
    readonly getPeer = (): string => this.context.peer;
    readonly getPath = (): string => this.context.path;
    readonly getDeadline = (): number => this.context.deadline;
    readonly sendMetadata = (): void => {};

    get metadata(): Metadata {
      return this.context.metadata;
    }

    cancel(): void {
      if (this.cancelled) return;
      this.cancelled = true;
      this.emit("cancelled", "cancelled");
      this.release();
    }

    /** What a kind frees once the client has gone (a stream is destroyed). */
    protected release(): void {}
  }
  return ServerCall;
}

class WebUnaryCall extends withCallSurface(EventEmitter) {
  constructor(
    protected readonly context: CallContext,
    readonly request: unknown,
  ) {
    super();
  }
}

/** A server stream: an object-mode Writable, as grpc-js's ServerWritableStreamImpl is. */
class WebWritableCall extends withCallSurface(Writable) {
  private pendingStatus: GrpcStatus = { code: status.OK, details: "OK" };

  constructor(
    protected readonly context: CallContext,
    readonly request: unknown,
    private readonly reply: GrpcWebReply,
    private readonly encode: (message: unknown) => Buffer,
  ) {
    super({ objectMode: true });
    // A handler ends a stream with a status by emitting 'error' (grpc-js does the same).
    this.on("error", (error: unknown) => {
      if (this.destroyed) return this.reply.finish(statusOfError(error));
      this.pendingStatus = statusOfError(error);
      this.end();
    });
  }

  override _write(message: unknown, _encoding: BufferEncoding, done: (error?: Error) => void) {
    if (this.reply.done) return done();
    let bytes: Buffer;
    try {
      bytes = this.encode(message);
    } catch {
      // Later writes are dropped: the stream has already ended with its status.
      this.reply.finish({ code: status.INTERNAL, details: "error serializing response" });
      return done();
    }
    if (this.reply.message(bytes)) return done();
    this.reply.response.once("drain", () => done());
  }

  override _final(done: (error?: Error) => void): void {
    this.reply.finish(this.pendingStatus);
    done();
  }

  protected override release(): void {
    this.destroy();
  }
}

/** A client stream: an object-mode Readable of the decoded request messages. */
class WebReadableCall extends withCallSurface(Readable) {
  constructor(
    protected readonly context: CallContext,
    private readonly frames: FrameReader,
    decode: (bytes: Buffer) => unknown,
  ) {
    super({ objectMode: true });
    frames.onMessage = (bytes) => {
      let message: unknown;
      try {
        message = decode(bytes);
      } catch (error) {
        this.destroy(error as Error);
        return false;
      }
      return this.push(message);
    };
    frames.onEnd = (error) => (error ? this.destroy(new Error(error.details)) : this.push(null));
  }

  override _read(): void {
    this.frames.resume();
  }

  protected override release(): void {
    this.destroy();
  }
}

interface FrameReader {
  /** The one message of a unary or server-streaming call, once the request has ended. */
  single(): Promise<Buffer>;
  /** Streaming: called per message; false asks the reader to pause the socket. */
  onMessage?: (bytes: Buffer) => boolean;
  onEnd?: (error?: GrpcStatus) => void;
  resume(): void;
}

/** Splits a request body into gRPC-web data frames as it arrives, refusing oversized ones. */
function readFrames(request: IncomingMessage, maxMessageBytes: number): FrameReader {
  let buffered: Buffer = Buffer.alloc(0);
  const messages: Buffer[] = [];
  let failure: GrpcStatus | undefined;
  let ended = false;
  let settle: (() => void) | undefined;
  const reader: FrameReader = {
    single: () =>
      new Promise<Buffer>((resolve, reject) => {
        settle = () => {
          if (failure) return reject(failure);
          if (messages.length !== 1) {
            return reject({
              code: status.INTERNAL,
              details: `expected one request message, got ${messages.length}`,
            });
          }
          resolve(messages[0]);
        };
        if (ended) settle();
      }),
    resume: () => request.resume(),
  };
  const fail = (result: GrpcStatus) => {
    failure ??= result;
    request.removeAllListeners("data");
    request.resume();
  };
  request.on("data", (chunk: Buffer) => {
    buffered = buffered.byteLength === 0 ? chunk : Buffer.concat([buffered, chunk]);
    while (buffered.byteLength >= 5 && !failure) {
      const flag = buffered.readUInt8(0);
      const length = buffered.readUInt32BE(1);
      if (flag & 0x01) {
        return fail({ code: status.UNIMPLEMENTED, details: "compressed messages are not served" });
      }
      if (length > maxMessageBytes) {
        return fail({
          code: status.RESOURCE_EXHAUSTED,
          details: `request message of ${length} bytes is larger than ${maxMessageBytes}`,
        });
      }
      if (buffered.byteLength < 5 + length) break;
      const payload = Buffer.from(buffered.subarray(5, 5 + length));
      buffered = buffered.subarray(5 + length);
      if (reader.onMessage) {
        if (!reader.onMessage(payload)) request.pause();
      } else if (messages.push(payload) > 1) {
        return fail({ code: status.INTERNAL, details: "expected one request message" });
      }
    }
  });
  request.on("end", () => {
    ended = true;
    if (!failure && buffered.byteLength > 0) {
      failure = { code: status.INTERNAL, details: "request ended inside a message frame" };
    }
    reader.onEnd?.(failure);
    settle?.();
  });
  request.on("error", () => {
    failure ??= { code: status.CANCELLED, details: "request aborted" };
  });
  return reader;
}

function metadataOf(request: IncomingMessage): Metadata {
  const metadata = new Metadata();
  for (const [key, value] of Object.entries(request.headers)) {
    if (value === undefined || NOT_METADATA.has(key) || key.startsWith("sec-")) continue;
    if (key.startsWith(":")) continue;
    for (const item of Array.isArray(value) ? value : value.split(/,\s*/)) {
      if (key.endsWith("-bin")) metadata.add(key, Buffer.from(item, "base64"));
      else metadata.add(key, item);
    }
  }
  return metadata;
}

const TIMEOUT_UNITS: Record<string, number> = {
  H: 3_600_000,
  M: 60_000,
  S: 1_000,
  m: 1,
  u: 0.001,
  n: 0.000_001,
};

/** The call's deadline from `grpc-timeout` (e.g. 30S), as grpc-js reports it; Infinity without. */
function deadlineOf(request: IncomingMessage): number {
  const match = /^(\d{1,8})([HMSmun])$/.exec(String(request.headers["grpc-timeout"] ?? ""));
  if (!match) return Number.POSITIVE_INFINITY;
  return Date.now() + Number(match[1]) * TIMEOUT_UNITS[match[2]];
}
