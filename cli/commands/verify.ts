/**
 * `fedproof verify`: checks where a model file came from, against the chain and a provenance
 * bundle (a file, or fetched from the coordinator). Exit codes: 0 when everything was checked
 * and matches, 2 when something does not match (each mismatch is named) or could not be checked
 * (each listed under `unchecked`: a bundle without the job spec, proofs without keys…), 1 when
 * verification could not run.
 */

import { readFile } from "node:fs/promises";
import { type Command, Option } from "commander";
import { releaseSnarkjsThreads } from "../../client/core/proving/release-snarkjs.js";
import { InvalidArgumentError } from "../../common/errors.js";
import { groth16Verifier } from "../../contracts/groth16-verifier.js";
import { CHAIN_ENV } from "../../coordinator/chain/chain-config.js";
import type { VerificationKeys } from "../../protocol/provenance/job-vkey-hash.js";
import { fetchBundleFromCoordinator } from "../../verifier/fetch-bundle.js";
import { type ProvenanceBundle, parseProvenanceBundle } from "../../verifier/provenance-bundle.js";
import { renderVerificationReport } from "../../verifier/report.js";
import { verifyModel } from "../../verifier/verify-model.js";
import { emit, reportError } from "../output.js";
import { channelCredentialsOf, int, type TlsFlags, withCommon, withTls } from "./options.js";

/** Exit code for "verification ran and something does not match, or could not be checked". */
export const VERIFY_MISMATCH_EXIT_CODE = 2;

interface VerifyOptions extends TlsFlags {
  model: string;
  rpcUrl?: string;
  registry?: string;
  chainId?: number;
  bundle?: string;
  coordinator?: string;
  job?: string;
  chainJobId?: string;
  vkeys?: string;
  proofCheck: "batch" | "snarkjs";
  json?: boolean;
}

export function registerVerifyCommand(program: Command): void {
  withTls(withCommon(program.command("verify")))
    .description(
      "check a model file's provenance: its ancestry on chain, every round's Merkle roots and every proof; exit 0 when all match, 2 on a mismatch or anything left unchecked, 1 when it could not check",
    )
    .requiredOption("--model <file>", "the model file to check (its sha256 is looked up on chain)")
    .option("--rpc-url <url>", `chain JSON-RPC endpoint (default: $${CHAIN_ENV.rpcUrl})`)
    .option("--registry <address>", `FedproofRegistry address (default: $${CHAIN_ENV.registry})`)
    .option(
      "--chain-id <n>",
      "expected chain id (default: asked from the endpoint)",
      int("chain-id", 1),
    )
    .option("--bundle <file>", "provenance bundle (from `fedproof job provenance` or a demo)")
    .option(
      "--coordinator <host:port>",
      "fetch the bundle from this coordinator's Provenance service",
    )
    .option("--job <id>", "the coordinator's job id (with --coordinator)")
    .option(
      "--chain-job-id <n>",
      "the registry's job id, when the coordinator does not say (with --coordinator)",
    )
    .option(
      "--vkeys <file>",
      "verification keys by circuit id, JSON (with --coordinator, for jobs with proofs)",
    )
    .addOption(
      new Option(
        "--proof-check <how>",
        "batch: one multi-pairing per round; snarkjs: groth16.verify per proof",
      )
        .choices(["batch", "snarkjs"])
        .default("batch"),
    )
    .action(async (options: VerifyOptions) => {
      try {
        const rpcUrl = options.rpcUrl ?? process.env[CHAIN_ENV.rpcUrl];
        const registry = options.registry ?? process.env[CHAIN_ENV.registry];
        if (!rpcUrl) throw new InvalidArgumentError(`pass --rpc-url or set $${CHAIN_ENV.rpcUrl}`);
        if (!registry)
          throw new InvalidArgumentError(`pass --registry or set $${CHAIN_ENV.registry}`);
        const modelBytes = await readInput(options.model, "model file");
        const bundle = await loadBundle(options, rpcUrl, registry);
        const report = await verifyModel({
          modelBytes,
          rpcUrl,
          registry,
          bundle,
          chainId: options.chainId,
          proofCheck: options.proofCheck,
          // Compiled with the solc and settings the coordinator deploys with (cached by source).
          verifierCode: async (verificationKey) =>
            (await groth16Verifier({ verificationKey })).deployedBytecode,
        });
        await releaseSnarkjsThreads();
        emit(options, report, () => renderVerificationReport(report, options.model));
        if (!report.ok) {
          const first = report.mismatches[0]?.message;
          process.stderr.write(
            first
              ? `fedproof verify: ${report.mismatches.length} mismatch${report.mismatches.length === 1 ? "" : "es"}: ${first}\n`
              : `fedproof verify: not verified, ${report.unchecked.length} thing${report.unchecked.length === 1 ? "" : "s"} could not be checked: ${report.unchecked[0] ?? "the proofs"}\n`,
          );
          process.exit(VERIFY_MISMATCH_EXIT_CODE);
        }
      } catch (error) {
        await releaseSnarkjsThreads();
        reportError(error, options);
      }
    });
}

async function loadBundle(
  options: VerifyOptions,
  rpcUrl: string,
  registry: string,
): Promise<ProvenanceBundle> {
  if (options.bundle && options.coordinator) {
    throw new InvalidArgumentError("pass either --bundle or --coordinator, not both");
  }
  if (options.bundle) {
    const text = (await readInput(options.bundle, "bundle")).toString();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new InvalidArgumentError(`${options.bundle} is not JSON`);
    }
    return parseProvenanceBundle(json);
  }
  if (options.coordinator) {
    if (!options.job) throw new InvalidArgumentError("--coordinator needs --job ID");
    return fetchBundleFromCoordinator(
      options.coordinator,
      options.job,
      { registry, rpcUrl, chainId: options.chainId, chainJobId: options.chainJobId },
      {
        verificationKeys: options.vkeys ? await readVerificationKeys(options.vkeys) : undefined,
        credentials: channelCredentialsOf(options),
      },
    );
  }
  throw new InvalidArgumentError("pass --bundle FILE, or --coordinator HOST:PORT --job ID");
}

export async function readVerificationKeys(file: string): Promise<VerificationKeys> {
  let json: unknown;
  try {
    json = JSON.parse((await readInput(file, "verification keys file")).toString());
  } catch (error) {
    if (error instanceof InvalidArgumentError) throw error;
    throw new InvalidArgumentError(`${file} is not JSON`);
  }
  const isKey = (value: unknown) =>
    typeof value === "object" && value !== null && Array.isArray((value as { IC?: unknown }).IC);
  if (
    typeof json !== "object" ||
    json === null ||
    Array.isArray(json) ||
    !Object.values(json).every(isKey)
  ) {
    throw new InvalidArgumentError(
      `${file} must map circuit ids to snarkjs verification keys: {"<circuit id>": {…vkey…}}`,
    );
  }
  return json as VerificationKeys;
}

async function readInput(file: string, what: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new InvalidArgumentError(`cannot read the ${what} ${file} (${code ?? "error"})`);
  }
}
