import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import { createGrpcWebHandler, type WebService } from "./grpc-web.js";
import { serveStatic } from "./static-files.js";

export interface StartWebServerParameters {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** The services the native gRPC server serves, with the same handler objects. */
  services: readonly WebService[];
  /** The built web app (see ensureWebApp); without it only gRPC-web is served. */
  appDir?: string;
  /**
   * Origins, besides the one the app is served from, whose pages may call the API
   * (e.g. "https://dash.example.org"). Everything else is refused.
   */
  allowedOrigins?: readonly string[];
  logger: Logger;
}

export interface RunningWebServer {
  /** http://host:port/ of the app. */
  url: string;
  port: number;
  /** Stops taking requests, then drops open streams after `graceMs` (default 1 s). */
  close(graceMs?: number): Promise<void>;
}

// What a gRPC-web client sends and may read beyond the CORS-safelisted headers.
const ALLOW_HEADERS = "content-type, x-grpc-web, x-user-agent, grpc-timeout, authorization";
const EXPOSE_HEADERS = "grpc-status, grpc-message, fedproof-error";

/**
 * The coordinator's HTTP/1.1 side: gRPC-web for the same services as the native server
 * (POST /fedproof.v1.<Service>/<Method>) and the web app, from one origin. A page from any
 * other origin is refused unless listed, so a site a researcher happens to visit cannot use
 * the bearer token typed into the dashboard, nor drive devices through a visitor's browser.
 */
export async function startWebServer(
  parameters: StartWebServerParameters,
): Promise<RunningWebServer> {
  const { logger } = parameters;
  const grpcWeb = createGrpcWebHandler({ services: parameters.services, logger });
  const allowed = new Set(parameters.allowedOrigins ?? []);

  const handle = (request: IncomingMessage, response: ServerResponse) => {
    const origin = request.headers.origin;
    // Same origin: the page came from this server under the host the browser used, directly
    // or through a proxy that terminates TLS in front of it (the browser then says https).
    const permitted =
      origin === undefined ||
      origin === `http://${request.headers.host}` ||
      origin === `https://${request.headers.host}` ||
      allowed.has(origin);
    const cors: Record<string, string> =
      origin !== undefined && permitted
        ? {
            "access-control-allow-origin": origin,
            "access-control-expose-headers": EXPOSE_HEADERS,
            vary: "origin",
          }
        : {};
    if (!permitted) {
      request.resume();
      response.writeHead(403, { "content-type": "text/plain; charset=utf-8" });
      return response.end(`origin ${origin} may not use this coordinator`);
    }
    if (request.method === "OPTIONS") {
      response.writeHead(204, {
        ...cors,
        "access-control-allow-methods": "POST, GET",
        "access-control-allow-headers": ALLOW_HEADERS,
        "access-control-max-age": "600",
      });
      return response.end();
    }
    if (request.method === "POST" && /^\/[\w.]+\/\w+$/.test(request.url ?? "")) {
      return grpcWeb(request, response, cors);
    }
    if ((request.method === "GET" || request.method === "HEAD") && parameters.appDir) {
      return void serveStatic(request, response, parameters.appDir).catch((error: unknown) => {
        logger.warn({ err: error, url: request.url }, "static file failed");
        if (!response.headersSent) response.writeHead(500);
        response.end();
      });
    }
    request.resume();
    response.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
    response.end("not found");
  };

  const server = createServer({ keepAliveTimeout: 30_000 }, handle);
  // Task streams stay open for a whole job; only the request itself must arrive in time.
  server.requestTimeout = 120_000;
  server.headersTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(parameters.port, parameters.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const host = parameters.host.includes(":") ? `[${parameters.host}]` : parameters.host;
  const shown = host === "0.0.0.0" || host === "[::]" ? "127.0.0.1" : host;
  const url = `http://${shown}:${port}/`;
  logger.info({ url }, "web app and gRPC-web listening");

  return {
    url,
    port,
    close(graceMs = 1_000) {
      return new Promise<void>((resolve) => {
        const timer = setTimeout(() => server.closeAllConnections(), graceMs);
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
        server.closeIdleConnections();
      });
    },
  };
}
