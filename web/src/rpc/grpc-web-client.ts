import type * as protobuf from "protobufjs";

/** A call that ended with a non-OK gRPC status, as the coordinator reported it. */
export class GrpcWebError extends Error {
  override name = "GrpcWebError";
  constructor(
    readonly code: number,
    readonly details: string,
    /** The project's error class (the `fedproof-error` trailer), e.g. "RoundClosedError". */
    readonly fedproofError?: string,
  ) {
    super(`${STATUS_NAMES[code] ?? `status ${code}`}: ${details}`);
  }
}

export const STATUS_NAMES: Record<number, string> = {
  0: "OK",
  1: "CANCELLED",
  2: "UNKNOWN",
  3: "INVALID_ARGUMENT",
  4: "DEADLINE_EXCEEDED",
  5: "NOT_FOUND",
  6: "ALREADY_EXISTS",
  7: "PERMISSION_DENIED",
  8: "RESOURCE_EXHAUSTED",
  9: "FAILED_PRECONDITION",
  10: "ABORTED",
  11: "OUT_OF_RANGE",
  12: "UNIMPLEMENTED",
  13: "INTERNAL",
  14: "UNAVAILABLE",
  15: "DATA_LOSS",
  16: "UNAUTHENTICATED",
};

export interface CallOptions {
  /** Extra request metadata, e.g. { authorization: "Bearer …" }. */
  metadata?: Record<string, string>;
  signal?: AbortSignal;
}

export interface GrpcWebClientParameters {
  /** Origin (and path prefix) of the coordinator's web port; "" for the page's own. */
  baseUrl: string;
  /** The fedproof.v1 protos, parsed (createProtoRoot). */
  root: protobuf.Root;
  fetch?: typeof fetch;
}

// Same conversion as the coordinator's proto-loader options: camelCase fields, 64-bit
// integers and enums as strings, defaults filled in, the set oneof member named.
const TO_OBJECT: protobuf.IConversionOptions = {
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

/**
 * A gRPC-web client (binary framing over fetch) for the coordinator's services, with no
 * generated code: messages are encoded from the same .proto files the coordinator loads.
 * Runs in browsers and in Node (tests).
 */
export class GrpcWebClient {
  private readonly fetch: typeof fetch;

  constructor(private readonly parameters: GrpcWebClientParameters) {
    this.fetch = parameters.fetch ?? globalThis.fetch.bind(globalThis);
  }

  async unary<Response = Record<string, unknown>>(
    service: string,
    method: string,
    request: object,
    options: CallOptions = {},
  ): Promise<Response> {
    let answer: Response | undefined;
    for await (const message of this.stream<Response>(service, method, request, options)) {
      answer = message;
    }
    if (answer === undefined) throw new GrpcWebError(13, `${method} answered no message`);
    return answer;
  }

  /** A server stream's messages; ends at the OK trailer, throws GrpcWebError otherwise. */
  async *stream<Response = Record<string, unknown>>(
    service: string,
    method: string,
    request: object,
    options: CallOptions = {},
  ): AsyncGenerator<Response> {
    const definition = this.parameters.root.lookupService(service).methods[method];
    if (!definition) throw new GrpcWebError(12, `${service} has no method ${method}`);
    const requestType = this.parameters.root.lookupType(definition.requestType);
    const responseType = this.parameters.root.lookupType(definition.responseType);
    const body = frame(requestType.encode(requestType.fromObject(request)).finish());
    let response: Response_;
    try {
      response = await this.fetch(`${this.parameters.baseUrl}/${service}/${method}`, {
        method: "POST",
        headers: {
          "content-type": "application/grpc-web+proto",
          "x-grpc-web": "1",
          ...options.metadata,
        },
        body,
        signal: options.signal,
      });
    } catch (error) {
      if (options.signal?.aborted) throw new GrpcWebError(1, "cancelled by the caller");
      throw new GrpcWebError(14, `coordinator unreachable: ${(error as Error).message}`);
    }
    if (response.status !== 200 || !response.body) {
      throw new GrpcWebError(
        response.status === 403 ? 7 : 14,
        `HTTP ${response.status}: ${await response.text().catch(() => "")}`,
      );
    }
    const headerStatus = response.headers.get("grpc-status");
    if (headerStatus !== null && headerStatus !== "0") {
      throw new GrpcWebError(
        Number(headerStatus),
        decodeURIComponent(response.headers.get("grpc-message") ?? ""),
        response.headers.get("fedproof-error") ?? undefined,
      );
    }
    const reader = response.body.getReader();
    let buffered: Uint8Array = new Uint8Array(0);
    // Read to its trailers, the body is done; anything else (an error, a caller that stopped
    // iterating) cancels the request so the coordinator sees the stream end.
    let complete = false;
    try {
      for (;;) {
        while (buffered.byteLength >= 5) {
          const length = new DataView(buffered.buffer, buffered.byteOffset).getUint32(1);
          if (buffered.byteLength < 5 + length) break;
          const flag = buffered[0];
          const payload = buffered.subarray(5, 5 + length);
          buffered = buffered.subarray(5 + length);
          if (flag & 0x80) {
            const trailers = parseTrailers(payload);
            const code = Number(trailers["grpc-status"] ?? 2);
            // Read the end of the body too: a body left unread counts as an aborted request.
            await reader.read().catch(() => undefined);
            complete = true;
            if (code !== 0) {
              throw new GrpcWebError(
                code,
                trailers["grpc-message"] ?? "",
                trailers["fedproof-error"],
              );
            }
            return;
          }
          yield responseType.toObject(responseType.decode(payload), TO_OBJECT) as Response;
        }
        let next: Awaited<ReturnType<typeof reader.read>>;
        try {
          next = await reader.read();
        } catch (error) {
          if (options.signal?.aborted) throw new GrpcWebError(1, "cancelled by the caller");
          throw new GrpcWebError(14, `connection lost: ${(error as Error).message}`);
        }
        if (next.done) {
          throw new GrpcWebError(14, "the connection closed before the call's status arrived");
        }
        buffered = concat(buffered, next.value);
      }
    } finally {
      if (!complete) reader.cancel().catch(() => {});
    }
  }
}

type Response_ = Awaited<ReturnType<typeof fetch>>;

function frame(payload: Uint8Array): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(5 + payload.byteLength);
  new DataView(bytes.buffer).setUint32(1, payload.byteLength);
  bytes.set(payload, 5);
  return bytes;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.byteLength === 0) return b;
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a);
  out.set(b, a.byteLength);
  return out;
}

function parseTrailers(payload: Uint8Array): Record<string, string> {
  const trailers: Record<string, string> = {};
  for (const line of new TextDecoder().decode(payload).split("\r\n")) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const key = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    trailers[key] = key === "grpc-message" ? safeDecode(value) : value;
  }
  return trailers;
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
