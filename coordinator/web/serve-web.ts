import type * as grpc from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { WebService } from "./grpc-web.js";
import { ensureWebApp } from "./web-app.js";
import { type RunningWebServer, startWebServer } from "./web-server.js";

export interface WebOptions {
  /** HTTP port (default 0: a free one). */
  port?: number;
  /** Interface to bind (default: the gRPC server's). */
  host?: string;
  /** Serve the web app too (default true); false serves gRPC-web only. */
  app?: boolean;
  /** Other origins whose pages may call the API. */
  allowedOrigins?: readonly string[];
}

/**
 * Every service added to the native server from now on, with its handler object: the web
 * transport serves exactly these, so the two can never drift apart.
 */
export function recordServices(server: grpc.Server): WebService[] {
  const services: WebService[] = [];
  const addService = server.addService.bind(server);
  server.addService = (definition, implementation) => {
    services.push({ definition, implementation });
    addService(definition, implementation);
  };
  return services;
}

export interface StartWebParameters extends WebOptions {
  host: string;
  services: readonly WebService[];
  logger: Logger;
}

/** Builds the web app if needed and serves it with gRPC-web for `services`. */
export async function startWeb(parameters: StartWebParameters): Promise<RunningWebServer> {
  const appDir = parameters.app === false ? undefined : await ensureWebApp();
  return startWebServer({
    host: parameters.host,
    port: parameters.port ?? 0,
    services: parameters.services,
    appDir,
    allowedOrigins: parameters.allowedOrigins,
    logger: parameters.logger,
  });
}
