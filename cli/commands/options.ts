import { type Command, InvalidArgumentError, Option } from "commander";

export function int(name: string, min = 0) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!Number.isInteger(parsed) || parsed < min)
      throw new InvalidArgumentError(`${name} must be an integer ≥ ${min}`);
    return parsed;
  };
}

export function num(name: string) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!Number.isFinite(parsed)) throw new InvalidArgumentError(`${name} must be a number`);
    return parsed;
  };
}

/** The options every verb shares. */
export function withCommon(command: Command): Command {
  return command
    .option("--json", "machine-readable output (a single JSON document on stdout)")
    .addOption(
      new Option("--log-level <level>", "log level for stderr").choices([
        "fatal",
        "error",
        "warn",
        "info",
        "debug",
        "trace",
        "silent",
      ]),
    );
}

export function withRedis(command: Command): Command {
  return command
    .option("--redis-url <url>", "Redis URL (default: $REDIS_URL or redis://127.0.0.1:6379)")
    .option(
      "--prefix <prefix>",
      "Redis key and queue prefix shared by coordinator and workers",
      "fedproof",
    )
    .option(
      "--store <dir>",
      "artifact store directory (content-addressed blobs)",
      ".fedproof/store",
    );
}

export function redisUrlOf(options: { redisUrl?: string }): string {
  return options.redisUrl ?? process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
}

/** Flags naming the chain a coordinator or anchor worker writes to; the key never appears on the command line. */
export function withChain(command: Command): Command {
  return command
    .option(
      "--rpc-url <url>",
      "EVM JSON-RPC endpoint to anchor on (default: $FEDPROOF_RPC_URL); omit to run without a chain",
    )
    .option(
      "--chain-id <id>",
      "chain id (default: $FEDPROOF_CHAIN_ID, else asked from the endpoint)",
    )
    .option(
      "--registry <address>",
      "FedproofRegistry contract address (default: $FEDPROOF_REGISTRY)",
    )
    .option(
      "--key-file <file>",
      "file holding the coordinator's private key (default: $FEDPROOF_CHAIN_KEY or $FEDPROOF_CHAIN_KEY_FILE)",
    );
}

export function withCoordinatorAddress(command: Command): Command {
  return command.option(
    "--coordinator <host:port>",
    "coordinator address (default: $FEDPROOF_COORDINATOR or 127.0.0.1:50051)",
  );
}

export function coordinatorOf(options: { coordinator?: string }): string {
  return options.coordinator ?? process.env.FEDPROOF_COORDINATOR ?? "127.0.0.1:50051";
}
