/**
 * `fedproof job provenance ID --out bundle.json`: exports a job's provenance bundle from the
 * coordinator's public Jobs and Provenance services, for `fedproof verify --bundle`.
 */
import { writeFile } from "node:fs/promises";
import type { Command } from "commander";
import { CHAIN_ENV } from "../../coordinator/chain/chain-config.js";
import { fetchBundleFromCoordinator } from "../../verifier/fetch-bundle.js";
import { emit, reportError } from "../output.js";
import {
  channelCredentialsOf,
  coordinatorOf,
  int,
  type TlsFlags,
  withCommon,
  withCoordinatorAddress,
} from "./options.js";
import { readVerificationKeys } from "./verify.js";

interface JobProvenanceOptions extends TlsFlags {
  out: string;
  coordinator?: string;
  registry?: string;
  rpcUrl?: string;
  chainId?: number;
  chainJobId?: string;
  vkeys?: string;
  json?: boolean;
}

/** Adds `provenance` under the `job` command. */
export function registerJobProvenanceCommand(jobCommand: Command): void {
  withCoordinatorAddress(withCommon(jobCommand.command("provenance")))
    .description("export a job's provenance bundle (rounds, contributions, proofs, roots) as JSON")
    .argument("<job-id>")
    .requiredOption("--out <file>", "where to write the bundle")
    .option(
      "--registry <address>",
      "registry address (default: what the coordinator names, or $FEDPROOF_REGISTRY)",
    )
    .option("--chain-id <n>", "chain id (default: asked from --rpc-url)", int("chain-id", 1))
    .option(
      "--rpc-url <url>",
      `chain endpoint, to learn the chain id (default: $${CHAIN_ENV.rpcUrl})`,
    )
    .option("--chain-job-id <n>", "the registry's job id, when the coordinator does not say")
    .option("--vkeys <file>", "verification keys by circuit id, JSON, for jobs with proofs")
    .action(async (jobId: string, options: JobProvenanceOptions) => {
      try {
        const envChainId = process.env[CHAIN_ENV.chainId];
        const bundle = await fetchBundleFromCoordinator(
          coordinatorOf(options),
          jobId,
          {
            registry: options.registry ?? process.env[CHAIN_ENV.registry],
            rpcUrl: options.rpcUrl ?? process.env[CHAIN_ENV.rpcUrl],
            chainId: options.chainId ?? (envChainId ? Number(envChainId) : undefined),
            chainJobId: options.chainJobId,
          },
          {
            verificationKeys: options.vkeys ? await readVerificationKeys(options.vkeys) : undefined,
            credentials: channelCredentialsOf(options),
          },
        );
        await writeFile(options.out, `${JSON.stringify(bundle, null, 2)}\n`);
        const contributions = bundle.rounds.reduce(
          (sum, round) => sum + round.contributions.length,
          0,
        );
        emit(
          options,
          {
            out: options.out,
            jobId,
            chainJobId: bundle.chain.chainJobId,
            rounds: bundle.rounds.length,
            contributions,
          },
          () =>
            `wrote ${options.out}: job ${jobId} (registry job ${bundle.chain.chainJobId}), ${bundle.rounds.length} rounds, ${contributions} contributions`,
        );
      } catch (error) {
        reportError(error, options);
      }
    });
}
