import path from "node:path";
import { type Command, Option } from "commander";
import type { Logger } from "pino";
import { type PreferredBackend, selectBackend } from "../../client/node/backend.js";
import { InvalidArgumentError } from "../../common/errors.js";
import { redact } from "../../common/redact.js";
import { chainConfigFromFlags, describeChainConfig } from "../../coordinator/chain/chain-config.js";
import type { RunningCoordinator, ServerTlsOptions } from "../../coordinator/coordinator.js";
import { startCoordinator } from "../../coordinator/coordinator.js";
import { createLogger, emit, reportError } from "../output.js";
import { firstStopSignal } from "../stop-signal.js";
import {
  coordinatorToken,
  DEFAULT_TOKEN_FILE,
  int,
  metricsOf,
  readPem,
  redisUrlOf,
  withChain,
  withCommon,
  withMetrics,
  withRedis,
  withToken,
} from "./options.js";

/** Open calls get this long to finish after SIGTERM; task streams are ended at once. */
const SHUTDOWN_GRACE_MS = 3_000;
/** Past this, the process exits anyway: BullMQ hands any job a worker was running to another. */
const SHUTDOWN_LIMIT_MS = 10_000;

export function registerCoordinatorCommand(program: Command): void {
  withToken(
    withMetrics(withChain(withRedis(withCommon(program.command("coordinator"))))),
    "that job creation and cancellation need",
    `created with a generated token, mode 600, if missing; without it: $FEDPROOF_TOKEN, else the file $FEDPROOF_TOKEN_FILE or ${DEFAULT_TOKEN_FILE}`,
  )
    .description(
      "run the gRPC coordinator (Coordinator, Jobs, Provenance) and, by default, its workers",
    )
    .option("--host <host>", "address to bind", "127.0.0.1")
    .option("--port <port>", "port to bind (0 = any free port)", int("port"), 50051)
    .option(
      "--web",
      "also serve the web app (device page, dashboard) and gRPC-web over HTTP/1.1 on --web-port",
    )
    .option("--web-port <port>", "HTTP port of --web (0 = any free port)", int("web-port"), 8080)
    .option("--tls-cert <file>", "serve gRPC over TLS with this certificate chain (PEM)")
    .option("--tls-key <file>", "the private key (PEM) of --tls-cert")
    .option(
      "--tls-client-ca <file>",
      "with --tls-cert: require client certificates signed by this CA (PEM)",
    )
    .option(
      "--ephemeral",
      "run on a Redis without the append-only file (state lost when Redis restarts): demos and tests only",
    )
    .option("--no-workers", "run no workers in this process (use `fedproof worker`)")
    .option(
      "--max-parameters <n>",
      "largest model a job may ask for (default: $FEDPROOF_MAX_PARAMETERS, else 50000000)",
      int("--max-parameters", 1),
    )
    .option(
      "--joins-per-second <n>",
      "Joins accepted per job and second before RESOURCE_EXHAUSTED (0: no limit)",
      int("--joins-per-second", 0),
      50,
    )
    .addOption(
      new Option("--backend <name>", "tfjs backend that builds initial models")
        .choices(["auto", "tensorflow", "wasm", "cpu"])
        .default("auto"),
    )
    .action(async (options) => {
      const logger = createLogger(options);
      // Listening before anything starts: a SIGTERM at any moment, even one sent the instant
      // the ready document appears, takes the bounded shutdown and never the default action
      // (which killed the process by signal when the listener came after the document).
      const stopSignal = firstStopSignal({
        logger,
        limitMs: SHUTDOWN_LIMIT_MS,
        message: "shutting down: health NOT_SERVING, ending task streams, closing workers",
      });
      try {
        const tls = await serverTlsOf(options);
        const token = await coordinatorToken(options);
        // The same choice a device makes; without it the wasm backend, registered when the
        // CLI loads, is never initialised and every CreateJob would fail.
        const backend = await selectBackend({ preferred: options.backend as PreferredBackend });
        logger.info(backend, "tfjs backend");
        const chain =
          (options.rpcUrl ?? process.env.FEDPROOF_RPC_URL)
            ? await chainConfigFromFlags(options)
            : undefined;
        if (chain) {
          const described = describeChainConfig(chain);
          logger.info({ ...described, rpcUrl: redact(described.rpcUrl) }, "anchoring on chain");
        }
        const running = await startCoordinator({
          redisUrl: redisUrlOf(options),
          prefix: options.prefix,
          storeDir: path.resolve(options.store),
          host: options.host,
          port: options.port,
          token: token.token,
          tls,
          metrics: metricsOf(options),
          ephemeral: options.ephemeral === true,
          workers: options.workers
            ? chain
              ? ["verify", "aggregate", "anchor"]
              : ["verify", "aggregate"]
            : [],
          chain,
          maxParameters: options.maxParameters,
          joinsPerSecond: options.joinsPerSecond,
          web: options.web ? { port: options.webPort } : undefined,
          logger,
        });
        emit(
          options,
          {
            address: running.address,
            prefix: running.prefix,
            backend: backend.backend,
            tls: Boolean(tls),
            metricsUrl: running.metricsUrl,
            webUrl: running.webUrl,
            tokenSource: token.source,
            tokenFile: token.file,
            tokenFingerprint: token.fingerprint,
          },
          () =>
            [
              `fedproof coordinator listening on ${running.address}${tls ? " (TLS)" : ""}`,
              token.generated
                ? `generated a bearer token for job creation in ${token.file} (mode 600, ${token.fingerprint}); give clients --token-file ${token.file}`
                : `job creation needs the bearer token from ${token.source} (${token.fingerprint})`,
              ...(running.metricsUrl ? [`metrics at ${running.metricsUrl}`] : []),
              ...(running.webUrl ? [`web app and dashboard at ${running.webUrl}`] : []),
            ].join("\n"),
        );
        void stopSignal.then((signal) => shutdown(running, signal, logger));
      } catch (error) {
        reportError(error, options);
      }
    });
}

async function shutdown(
  running: RunningCoordinator,
  signal: NodeJS.Signals,
  logger: Logger,
): Promise<never> {
  try {
    await running.stop({ graceMs: SHUTDOWN_GRACE_MS });
  } catch (error) {
    logger.error({ err: error, signal }, "shutdown failed");
    process.exit(1);
  }
  logger.info({ signal }, "stopped");
  process.exit(0);
}

async function serverTlsOf(options: {
  tlsCert?: string;
  tlsKey?: string;
  tlsClientCa?: string;
}): Promise<ServerTlsOptions | undefined> {
  if (Boolean(options.tlsCert) !== Boolean(options.tlsKey)) {
    throw new InvalidArgumentError("--tls-cert and --tls-key go together");
  }
  if (!options.tlsCert) {
    if (options.tlsClientCa) throw new InvalidArgumentError("--tls-client-ca needs --tls-cert");
    return undefined;
  }
  return {
    cert: await readPem(options.tlsCert, "--tls-cert"),
    key: await readPem(options.tlsKey!, "--tls-key"),
    clientCa: options.tlsClientCa
      ? await readPem(options.tlsClientCa, "--tls-client-ca")
      : undefined,
  };
}
