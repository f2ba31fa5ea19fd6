import path from "node:path";
import { type Command, Option } from "commander";
import { type PreferredBackend, selectBackend } from "../../client/node/backend.js";
import { chainConfigFromFlags, describeChainConfig } from "../../coordinator/chain/chain-config.js";
import { startCoordinator } from "../../coordinator/coordinator.js";
import { createLogger, emit, reportError } from "../output.js";
import { int, redisUrlOf, withChain, withCommon, withRedis } from "./options.js";

/** Open calls get this long to finish after SIGTERM; task streams are ended at once. */
const SHUTDOWN_GRACE_MS = 3_000;
/** Past this, the process exits anyway: BullMQ hands any job a worker was running to another. */
const SHUTDOWN_LIMIT_MS = 10_000;

export function registerCoordinatorCommand(program: Command): void {
  withChain(withRedis(withCommon(program.command("coordinator"))))
    .description(
      "run the gRPC coordinator (Coordinator, Jobs, Provenance) and, by default, its workers",
    )
    .option("--host <host>", "address to bind", "127.0.0.1")
    .option("--port <port>", "port to bind (0 = any free port)", int("port"), 50051)
    .option(
      "--token <token>",
      "bearer token for job creation (default: $FEDPROOF_TOKEN, else generated and printed)",
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
      try {
        const token = options.token ?? process.env.FEDPROOF_TOKEN;
        // The same choice a device makes; without it the wasm backend, registered when the
        // CLI loads, is never initialised and every CreateJob would fail.
        const backend = await selectBackend({ preferred: options.backend as PreferredBackend });
        logger.info(backend, "tfjs backend");
        const chain =
          (options.rpcUrl ?? process.env.FEDPROOF_RPC_URL)
            ? await chainConfigFromFlags(options)
            : undefined;
        if (chain) logger.info(describeChainConfig(chain), "anchoring on chain");
        const running = await startCoordinator({
          redisUrl: redisUrlOf(options),
          prefix: options.prefix,
          storeDir: path.resolve(options.store),
          host: options.host,
          port: options.port,
          token,
          workers: options.workers
            ? chain
              ? ["verify", "aggregate", "anchor"]
              : ["verify", "aggregate"]
            : [],
          chain,
          maxParameters: options.maxParameters,
          joinsPerSecond: options.joinsPerSecond,
          logger,
        });
        emit(
          options,
          {
            address: running.address,
            prefix: running.prefix,
            backend: backend.backend,
            token: token ? undefined : running.token,
          },
          () =>
            [
              `fedproof coordinator listening on ${running.address}`,
              token
                ? "job creation needs the bearer token you gave"
                : `generated bearer token for job creation: ${running.token}`,
            ].join("\n"),
        );
        const shutdown = async (signal: NodeJS.Signals) => {
          logger.info({ signal }, "shutting down: ending task streams, closing workers");
          setTimeout(() => {
            logger.error(
              `shutdown took longer than ${SHUTDOWN_LIMIT_MS / 1000} s; exiting without waiting further`,
            );
            process.exit(1);
          }, SHUTDOWN_LIMIT_MS).unref();
          try {
            await running.stop({ graceMs: SHUTDOWN_GRACE_MS });
          } catch (error) {
            logger.error({ err: error }, "shutdown failed");
            process.exit(1);
          }
          logger.info("stopped");
          process.exit(0);
        };
        process.once("SIGINT", (signal) => void shutdown(signal));
        process.once("SIGTERM", (signal) => void shutdown(signal));
      } catch (error) {
        reportError(error, options);
      }
    });
}
