/**
 * `fedproof chain serve --state DIR`: serves a demo's persisted Anvil chain again, at the rpcUrl
 * written in DIR/chain.json, until stopped (Ctrl-C / SIGTERM), so `fedproof verify` works after
 * the demo has exited. Stopping dumps the state back into DIR.
 */
import type { Command } from "commander";
import { serveChainState } from "../demo/chain-state-dir.js";
import { emit, reportError } from "../output.js";
import { int, withCommon } from "./options.js";

export function registerChainCommand(program: Command): void {
  const chain = program.command("chain").description("local chains for demos and verification");

  withCommon(chain.command("serve"))
    .description("serve a demo's saved chain (DIR/chain.json + DIR/anvil-state.json) until stopped")
    .requiredOption("--state <dir>", "the demo's --out directory")
    .option("--port <port>", "serve on this port instead of the one in chain.json", int("port", 1))
    .action(async (options: { state: string; port?: number; json?: boolean }) => {
      try {
        const served = await serveChainState({ directory: options.state, port: options.port });
        const { rpcUrl, registry, chainId, statePath } = served;
        emit(options, { rpcUrl, registry, chainId, statePath }, () =>
          [
            `serving chain ${chainId} at ${rpcUrl} (registry ${registry})`,
            `state: ${statePath}; Ctrl-C to stop`,
            `verify with: fedproof verify --rpc-url ${rpcUrl} --registry ${registry} --model FILE --bundle BUNDLE`,
          ].join("\n"),
        );
        const shutdown = async () => {
          await served.stop();
          process.exit(0);
        };
        process.once("SIGINT", () => void shutdown());
        process.once("SIGTERM", () => void shutdown());
      } catch (error) {
        reportError(error, options);
      }
    });
}
