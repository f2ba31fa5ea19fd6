import path from "node:path";
import type { Command } from "commander";
import { chainConfigFromFlags, describeChainConfig } from "../../coordinator/chain/chain-config.js";
import { startCoordinator } from "../../coordinator/coordinator.js";
import { createLogger, emit, reportError } from "../output.js";
import { int, redisUrlOf, withChain, withCommon, withRedis } from "./options.js";

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
    .action(async (options) => {
      const logger = createLogger(options);
      try {
        const token = options.token ?? process.env.FEDPROOF_TOKEN;
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
          logger,
        });
        emit(
          options,
          {
            address: running.address,
            prefix: running.prefix,
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
        const shutdown = async () => {
          logger.info("shutting down");
          await running.stop();
          process.exit(0);
        };
        process.once("SIGINT", () => void shutdown());
        process.once("SIGTERM", () => void shutdown());
      } catch (error) {
        reportError(error, options);
      }
    });
}
