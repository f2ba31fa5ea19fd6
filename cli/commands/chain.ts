/**
 * `fedproof chain serve --state DIR`: serves a demo's persisted Anvil chain again, at the rpcUrl
 * written in DIR/chain.json, until stopped (Ctrl-C / SIGTERM), so `fedproof verify` works after
 * the demo has exited. Stopping dumps the state back into DIR.
 */
import type { Command } from "commander";
import { serveChainState } from "../demo/chain-state-dir.js";
import { emit, reportError } from "../output.js";
import { firstStopSignal } from "../stop-signal.js";
import { int, withCommon } from "./options.js";

/** Stopping dumps the chain state; past this the process exits without it. */
const CHAIN_SHUTDOWN_LIMIT_MS = 30_000;

export function registerChainCommand(program: Command): void {
  const chain = program.command("chain").description("local chains for demos and verification");

  withCommon(chain.command("serve"))
    .description("serve a demo's saved chain (DIR/chain.json + DIR/anvil-state.json) until stopped")
    .requiredOption("--state <dir>", "the demo's --out directory")
    .option("--port <port>", "serve on this port instead of the one in chain.json", int("port", 1))
    .action(async (options: { state: string; port?: number; json?: boolean }) => {
      const stopSignal = firstStopSignal({ limitMs: CHAIN_SHUTDOWN_LIMIT_MS, message: "stopping" });
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
        void stopSignal.then(async () => {
          await served.stop();
          process.exit(0);
        });
      } catch (error) {
        reportError(error, options);
      }
    });
}
