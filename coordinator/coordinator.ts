import { randomBytes } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import type { Logger } from "pino";
import { loadFedproofProto, SERVER_OPTIONS } from "../proto/load.js";
import { createAnchorQueue } from "./chain/anchor-queue.js";
import type { ChainConfig } from "./chain/chain-config.js";
import { createCoordinatorHandlers } from "./grpc/coordinator-service.js";
import { createJobsHandlers } from "./grpc/jobs-service.js";
import { createProvenanceHandlers } from "./grpc/provenance-service.js";
import { Subscriptions } from "./grpc/subscriptions.js";
import { prepareModelBackend } from "./jobs/initial-model.js";
import { JobService } from "./jobs/job-service.js";
import { createMetricsInterceptor } from "./observability/grpc-metrics.js";
import { addHealthService } from "./observability/health.js";
import { MeteredJobStore } from "./observability/metered-job-store.js";
import { FedproofMetrics } from "./observability/metrics.js";
import { type MetricsServer, serveMetrics } from "./observability/metrics-server.js";
import { instrumentWorkers } from "./observability/worker-metrics.js";
import { RoundEngine } from "./round/round-engine.js";
import { ArtifactStore } from "./store/artifact-store.js";
import type { JobStore } from "./store/job-store.js";
import {
  connectRedis,
  duplicateClient,
  openBullConnection,
  type RedisClient,
} from "./store/redis.js";
import { requirePersistence } from "./store/require-persistence.js";
import { recordServices, startWeb, type WebOptions } from "./web/serve-web.js";
import { createQueues } from "./workers/queues.js";
import { type RunningWorkers, startWorkers, type WorkerKind } from "./workers/start-workers.js";

export interface StartCoordinatorParameters {
  redisUrl: string;
  /** Redis key and BullMQ prefix; one per deployment (and per test). */
  prefix?: string;
  storeDir: string;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Bearer token for CreateJob/CancelJob; generated when absent. */
  token?: string;
  /** Workers to run in this process; [] when they run as `fedproof worker` elsewhere. */
  workers?: readonly WorkerKind[];
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  aggregateAttempts?: number;
  /** Register jobs and anchor rounds on this chain (an anchor worker runs with the others). */
  chain?: ChainConfig;
  /** Largest model a job may ask for (default $FEDPROOF_MAX_PARAMETERS, else 5·10⁷). */
  maxParameters?: number;
  /** How long a device session lives unused (default 1 h); task streams and uploads renew it. */
  sessionTtlMs?: number;
  /** Joins per job and second before RESOURCE_EXHAUSTED (default 50; 0: no limit). */
  joinsPerSecond?: number;
  /** Also serve gRPC-web for the same services, and the web app, over HTTP/1.1. */
  web?: WebOptions;
  /** Serve gRPC over TLS (PEM contents); without it, plaintext. */
  tls?: ServerTlsOptions;
  /** Serve Prometheus metrics at http://host:port/metrics (host default 127.0.0.1). */
  metrics?: { port: number; host?: string };
  /**
   * Run on a Redis without the append-only file (state lost on a restart): for demos and tests.
   * Without it the coordinator refuses such a Redis at start.
   */
  ephemeral?: boolean;
  logger: Logger;
}

export interface ServerTlsOptions {
  /** The server's certificate chain, PEM. */
  cert: Buffer;
  /** Its private key, PEM. */
  key: Buffer;
  /** With it, clients must present a certificate signed by this CA (mutual TLS). */
  clientCa?: Buffer;
}

export interface StopCoordinatorParameters {
  /**
   * How long open calls may take to finish after the server stops accepting new ones,
   * before they are cancelled (default 3 s). Task streams do not wait for it: they are
   * ended at once with UNAVAILABLE.
   */
  graceMs?: number;
}

export interface RunningCoordinator {
  address: string;
  port: number;
  token: string;
  prefix: string;
  store: JobStore;
  artifacts: ArtifactStore;
  jobs: JobService;
  engine: RoundEngine;
  /** tfjs backend the coordinator builds initial models with. */
  modelBackend: string;
  /** The web app and gRPC-web endpoint, when started with `web`. */
  webUrl?: string;
  /** This process's metrics (served at `metricsUrl` when started with `metrics`). */
  metrics: FedproofMetrics;
  metricsUrl?: string;
  /** Ends open task streams, stops the server within the grace period, then the rest. */
  stop(parameters?: StopCoordinatorParameters): Promise<void>;
}

const DEFAULT_GRACE_MS = 3_000;

/** Brings up the gRPC server, the round engine and (by default) in-process workers. */
export async function startCoordinator(
  parameters: StartCoordinatorParameters,
): Promise<RunningCoordinator> {
  const prefix = parameters.prefix ?? "fedproof";
  const logger = parameters.logger;
  // Before anything serves: CreateJob builds the initial model synchronously with tfjs.
  const modelBackend = await prepareModelBackend();
  const token = parameters.token ?? randomBytes(24).toString("base64url");
  const redis: RedisClient = await connectRedis(parameters.redisUrl);
  const metrics = new FedproofMetrics();
  const store: JobStore = new MeteredJobStore({ redis, prefix, metrics });
  if (parameters.ephemeral) {
    logger.info("ephemeral: Redis persistence not checked; a Redis restart loses all state");
  } else {
    try {
      const persistence = await requirePersistence(store, parameters.redisUrl);
      logger.info(persistence, "Redis persists with the append-only file");
    } catch (error) {
      redis.disconnect();
      throw error;
    }
  }
  const subscriber = duplicateClient(redis);
  const artifacts = new ArtifactStore({ root: parameters.storeDir });
  const bull = openBullConnection(parameters.redisUrl);
  const connection = bull.connection;
  const queues = createQueues({ connection, prefix });
  const anchorQueue = parameters.chain ? createAnchorQueue({ connection, prefix }) : undefined;
  metrics.watchQueues(
    anchorQueue
      ? [queues.verify, queues.aggregate, anchorQueue]
      : [queues.verify, queues.aggregate],
  );
  const engine = new RoundEngine({
    store,
    queues,
    connection,
    prefix,
    publisher: redis,
    logger,
    aggregateAttempts: parameters.aggregateAttempts,
    anchorQueue,
  });
  const subscriptions = new Subscriptions(subscriber);
  const jobs = new JobService({
    store,
    artifacts,
    engine,
    chain: parameters.chain,
    maxParameters: parameters.maxParameters,
  });
  const shutdown = new AbortController();

  let workers: RunningWorkers | undefined;
  const kinds: readonly WorkerKind[] =
    parameters.workers ??
    (parameters.chain ? ["verify", "aggregate", "anchor"] : ["verify", "aggregate"]);
  if (kinds.length > 0) {
    workers = await startWorkers({
      redisUrl: parameters.redisUrl,
      prefix,
      storeDir: parameters.storeDir,
      kinds,
      logger,
      chain: parameters.chain,
      lockDurationMs: parameters.lockDurationMs,
      stalledIntervalMs: parameters.stalledIntervalMs,
    });
    instrumentWorkers(metrics, workers.workers);
  }
  await engine.start();

  const proto = loadFedproofProto();
  const server = new grpc.Server({
    ...SERVER_OPTIONS,
    interceptors: [createMetricsInterceptor(metrics)],
  });
  const webServices = recordServices(server);
  server.addService(
    proto.fedproof.v1.Coordinator.service,
    createCoordinatorHandlers({
      store,
      artifacts,
      engine,
      verifyQueue: queues.verify,
      subscriptions,
      shutdown: shutdown.signal,
      sessionTtlMs: parameters.sessionTtlMs,
      joinsPerSecond: parameters.joinsPerSecond,
      logger,
    }),
  );
  server.addService(
    proto.fedproof.v1.Jobs.service,
    createJobsHandlers({ jobs, store, artifacts, engine, subscriptions, token, logger }),
  );
  server.addService(
    proto.fedproof.v1.Provenance.service,
    createProvenanceHandlers({ store, artifacts, logger }),
  );
  const health = addHealthService(server);
  const host = parameters.host ?? "127.0.0.1";
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(
      `${host}:${parameters.port ?? 0}`,
      serverCredentials(parameters.tls),
      (error, bound) => (error ? reject(error) : resolve(bound)),
    );
  });
  const address = `${host.includes(":") ? `[${host}]` : host}:${port}`;
  logger.info({ address, modelBackend, tls: Boolean(parameters.tls) }, "coordinator listening");
  const web = parameters.web
    ? await startWeb({
        ...parameters.web,
        host: parameters.web.host ?? host,
        services: webServices,
        logger,
      })
    : undefined;

  let metricsServer: MetricsServer | undefined;
  const running: RunningCoordinator = {
    address,
    port,
    token,
    prefix,
    store,
    artifacts,
    jobs,
    engine,
    modelBackend,
    webUrl: web?.url,
    metrics,
    async stop(stopParameters = {}) {
      // Before any stream is ended: a load balancer watching health stops sending devices here
      // while those already connected are told to go.
      health.notServing();
      shutdown.abort();
      await web?.close();
      await shutdownServer(server, stopParameters.graceMs ?? DEFAULT_GRACE_MS);
      await engine.stop();
      await workers?.close();
      await queues.close();
      await anchorQueue?.close();
      await bull.close();
      await metricsServer?.close();
      subscriber.disconnect();
      redis.disconnect();
    },
  };
  if (parameters.metrics) {
    try {
      metricsServer = await serveMetrics({ ...parameters.metrics, metrics, logger });
    } catch (error) {
      await running.stop({ graceMs: 0 });
      throw error;
    }
    running.metricsUrl = metricsServer.url;
  }
  health.serving();
  return running;
}

function serverCredentials(tls: ServerTlsOptions | undefined): grpc.ServerCredentials {
  if (!tls) return grpc.ServerCredentials.createInsecure();
  return grpc.ServerCredentials.createSsl(
    tls.clientCa ?? null,
    [{ cert_chain: tls.cert, private_key: tls.key }],
    Boolean(tls.clientCa),
  );
}

/**
 * Stops accepting calls and lets open ones finish for `graceMs`, then cancels the rest: a
 * stream that never ends on its own (a `job watch`) must not hold a shutdown open.
 */
function shutdownServer(server: grpc.Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
