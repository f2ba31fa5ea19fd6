/**
 * `fedproof dispute`: re-verifies proofs of an anchored contribution on chain. It reads the
 * contribution from a provenance bundle, sends one `dispute` per proof (or the one `--proof K`
 * names) to the registry, and prints each verdict: "upheld" when the job's registered Groth16
 * verifier accepts the proof, "REJECTED" when it does not (the coordinator anchored a contribution
 * whose proof does not verify; `fedproof verify` then fails on that round). Anyone may dispute;
 * the key pays the gas (about 0.27M for an UpdateNorm chunk proof). Exit codes: 0 every disputed
 * proof was upheld, 2 one was rejected, 1 the dispute could not be sent (a contribution the round
 * did not anchor is refused by the contract, ContributionNotAnchored).
 */
import { readFile } from "node:fs/promises";
import type { Command } from "commander";
import { InvalidArgumentError } from "../../common/errors.js";
import { CHAIN_ENV, readChainKey } from "../../coordinator/chain/chain-config.js";
import { fetchChainId } from "../../coordinator/chain/chain-id.js";
import {
  type DisputeContributionReturnType,
  disputeContribution,
} from "../../coordinator/chain/dispute-contribution.js";
import { createRegistryClient } from "../../coordinator/chain/registry-client.js";
import { parseProvenanceBundle } from "../../verifier/provenance-bundle.js";
import { emit, reportError } from "../output.js";
import { int, withCommon } from "./options.js";

/** Exit code when the chain's verifier rejected a disputed proof. */
export const DISPUTE_REJECTED_EXIT_CODE = 2;

interface DisputeOptions {
  bundle: string;
  round: number;
  device: string;
  proof?: number;
  rpcUrl?: string;
  registry?: string;
  chainId?: number;
  privateKeyFile?: string;
  json?: boolean;
}

export function registerDisputeCommand(program: Command): void {
  withCommon(program.command("dispute"))
    .description(
      "re-verify an anchored contribution's proofs on chain with the job's registered Groth16 verifiers; exit 0 all upheld, 2 one rejected, 1 could not dispute",
    )
    .requiredOption("--bundle <file>", "provenance bundle holding the contribution")
    .requiredOption("--round <n>", "the round", int("round", 1))
    .requiredOption("--device <id>", "the contribution's device id, as the bundle names it")
    .option("--proof <k>", "only proof k (upload order; default: every proof)", int("proof", 0))
    .option("--rpc-url <url>", `chain JSON-RPC endpoint (default: $${CHAIN_ENV.rpcUrl})`)
    .option("--registry <address>", `FedproofRegistry address (default: $${CHAIN_ENV.registry})`)
    .option("--chain-id <n>", "chain id (default: asked from the endpoint)", int("chain-id", 1))
    .option(
      "--private-key-file <file>",
      `key that pays for the dispute (default: $${CHAIN_ENV.key} or $${CHAIN_ENV.keyFile})`,
    )
    .action(async (options: DisputeOptions) => {
      try {
        const rpcUrl = options.rpcUrl ?? process.env[CHAIN_ENV.rpcUrl];
        const registry = options.registry ?? process.env[CHAIN_ENV.registry];
        if (!rpcUrl) throw new InvalidArgumentError(`pass --rpc-url or set $${CHAIN_ENV.rpcUrl}`);
        if (!registry)
          throw new InvalidArgumentError(`pass --registry or set $${CHAIN_ENV.registry}`);
        const account = await readChainKey({ keyFile: options.privateKeyFile });
        let text: string;
        try {
          text = await readFile(options.bundle, "utf8");
        } catch {
          throw new InvalidArgumentError(`cannot read the bundle ${options.bundle}`);
        }
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          throw new InvalidArgumentError(`the bundle ${options.bundle} is not JSON`);
        }
        const bundle = parseProvenanceBundle(json);
        const contribution = bundle.rounds
          .find((round) => round.round === options.round)
          ?.contributions.find((item) => item.deviceId === options.device);
        if (!contribution) {
          throw new InvalidArgumentError(
            `round ${options.round} of the bundle has no contribution of ${options.device}`,
          );
        }
        const indices =
          options.proof === undefined
            ? contribution.proofs.map((_, index) => index)
            : [options.proof];
        const chainId = options.chainId ?? (await fetchChainId(rpcUrl));
        const client = createRegistryClient({
          rpcUrl,
          chainId,
          registry: registry as `0x${string}`,
          account,
        });
        const results: DisputeContributionReturnType[] = [];
        for (const proofIndex of indices) {
          results.push(
            await disputeContribution({
              bundle,
              round: options.round,
              deviceId: options.device,
              proofIndex,
              rpcUrl,
              chainId,
              registry: client.registry,
              account,
              client,
            }),
          );
        }
        const rows = results.map((result) => ({
          round: result.round,
          deviceId: result.deviceId,
          proofIndex: result.proofIndex,
          circuitId: result.circuitId,
          proofValid: result.proofValid,
          txHash: result.txHash,
          gasUsed: Number(result.gasUsed),
        }));
        emit(options, { registry: client.registry, disputes: rows }, () =>
          rows
            .map(
              (row) =>
                `round ${row.round} device ${row.deviceId} proof ${row.proofIndex} (${row.circuitId}): ${row.proofValid ? "upheld: the registered verifier accepts it" : "REJECTED: the registered verifier does not accept it"} (tx ${row.txHash}, ${row.gasUsed} gas)`,
            )
            .join("\n"),
        );
        if (rows.some((row) => !row.proofValid)) process.exitCode = DISPUTE_REJECTED_EXIT_CODE;
      } catch (error) {
        reportError(error, options);
      }
    });
}
