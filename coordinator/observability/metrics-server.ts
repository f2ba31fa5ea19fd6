import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import type { FedproofMetrics } from "./metrics.js";

export interface ServeMetricsParameters {
  metrics: FedproofMetrics;
  /** Default 127.0.0.1: metrics name jobs' progress and are not for the open internet. */
  host?: string;
  /** 0 picks a free port. */
  port: number;
  logger: Logger;
}

export interface MetricsServer {
  /** http://host:port/metrics */
  url: string;
  close(): Promise<void>;
}

/** GET /metrics in the Prometheus text format, over plain HTTP; nothing else is served. */
export async function serveMetrics(parameters: ServeMetricsParameters): Promise<MetricsServer> {
  const { metrics, logger } = parameters;
  const server = http.createServer((request, response) => {
    const path = new URL(request.url ?? "/", "http://metrics").pathname;
    if (request.method !== "GET" || path !== "/metrics") {
      response
        .writeHead(404, { "content-type": "text/plain" })
        .end("not found; try GET /metrics\n");
      return;
    }
    metrics.exposition().then(
      ({ contentType, body }) => response.writeHead(200, { "content-type": contentType }).end(body),
      (error: unknown) => {
        logger.error({ err: error }, "collecting metrics failed");
        response
          .writeHead(500, { "content-type": "text/plain" })
          .end("collecting metrics failed\n");
      },
    );
  });
  const host = parameters.host ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(parameters.port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}/metrics`;
  // Host and port, not the URL: every URL in a log line has its path hidden by the redaction.
  logger.info({ host, port, path: "/metrics" }, "serving metrics");
  return {
    url,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
