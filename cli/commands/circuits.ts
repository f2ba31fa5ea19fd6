/**
 * `fedproof circuits build` compiles the circuits and runs their Groth16 setup (cached by
 * content hash outside the repository); `fedproof ceremony contribute|verify` runs the
 * production circuit-key ceremony on keys built with `--ptau`.
 */
import { randomBytes } from "node:crypto";
import type { Command } from "commander";
import {
  type BuildLogger,
  buildCircuits,
  type CircuitArtifacts,
  DEFAULT_CIRCUITS,
  findCircuitArtifacts,
} from "../../circuits/build.js";
import { ceremonyContribute, ceremonyVerify } from "../../circuits/ceremony.js";
import {
  type CircuitSpec,
  TEST_CIRCUITS,
  updateNormCircuit,
} from "../../circuits/circuit-catalog.js";
import { releaseSnarkjsThreads } from "../../client/core/proving/release-snarkjs.js";
import { InvalidArgumentError } from "../../common/errors.js";
import { NotFoundError } from "../../coordinator/errors.js";
import { emit, progress, reportError } from "../output.js";
import { withCommon } from "./options.js";

interface BuildOptions {
  dev?: boolean;
  ptau?: string;
  cacheDir?: string;
  test?: boolean;
  bits?: string;
  json?: boolean;
}

/** What a build prints per circuit: what to pin and whether it can be trusted. */
function describeCircuit(circuit: CircuitArtifacts) {
  return {
    id: circuit.id,
    constraints: circuit.constraints,
    domainPower: circuit.domainPower,
    zkeyMB: Number((circuit.zkeyBytes / 2 ** 20).toFixed(1)),
    vkeyHash: circuit.verificationKeySha256,
    vkeyPath: circuit.vkeyPath,
    insecure: circuit.insecure,
    ready: circuit.ready,
    contributions: circuit.contributions,
  };
}

function circuitsToBuild(options: BuildOptions): readonly CircuitSpec[] {
  if (options.test) return [TEST_CIRCUITS.updateNorm, TEST_CIRCUITS.dataValidity];
  if (!options.bits) return DEFAULT_CIRCUITS;
  return options.bits.split(",").map((bits) => {
    const value = Number(bits);
    if (!Number.isInteger(value))
      throw new InvalidArgumentError(`--bits takes integers, got "${bits}"`);
    return updateNormCircuit(value);
  });
}

export function registerCircuitsCommand(program: Command): void {
  const circuits = program
    .command("circuits")
    .description("zero-knowledge circuits: compile and set up");
  withCommon(circuits.command("build"))
    .description(
      "compile the circuits (circom2) and run their Groth16 setup, cached by content hash (default: production chunk circuits for 8 and 16 bits, and the test circuits)",
    )
    .option(
      "--dev",
      "INSECURE development setup: a powers of tau from public τ — anyone can forge proofs; tests and demos only",
    )
    .option("--ptau <file>", "production: a prepared powers-of-tau file from a public ceremony")
    .option(
      "--cache-dir <dir>",
      "artifact cache (default $FEDPROOF_CACHE_DIR or ~/.cache/fedproof)",
    )
    .option("--test", "build only the small test circuits")
    .option("--bits <list>", "build the production chunk circuits for these bit widths, e.g. 8,16")
    .action(async (options: BuildOptions) => {
      try {
        if (Boolean(options.dev) === Boolean(options.ptau)) {
          throw new InvalidArgumentError(
            "choose the setup: --dev (INSECURE, development) or --ptau FILE (production)",
          );
        }
        const logger: BuildLogger = {
          info: (message) => progress(options, message),
          warn: (message) => process.stderr.write(`WARNING: ${message}\n`),
        };
        const built = await buildCircuits({
          dev: Boolean(options.dev),
          ptau: options.ptau,
          cacheDir: options.cacheDir,
          circuits: circuitsToBuild(options),
          logger,
        });
        const result = {
          insecure: built.insecure,
          ptauPath: built.ptauPath,
          seconds: built.seconds,
          circuits: built.circuits.map(describeCircuit),
        };
        emit(options, result, () =>
          [
            ...result.circuits.map(
              (c) =>
                `${c.id}  ${c.constraints} constraints (2^${c.domainPower})  zkey ${c.zkeyMB} MB  vkey ${c.vkeyHash}${c.insecure ? "  INSECURE (development setup)" : c.ready ? "" : "  awaiting ceremony: fedproof ceremony contribute"}`,
            ),
            `built in ${built.seconds.toFixed(1)} s${built.insecure ? " · INSECURE development keys: never use them in production" : ""}`,
          ].join("\n"),
        );
        await releaseSnarkjsThreads();
      } catch (error) {
        reportError(error, options);
      }
    });

  const ceremony = program
    .command("ceremony")
    .description("the circuit-key ceremony for production keys (built with --ptau)");
  withCommon(ceremony.command("contribute"))
    .description("add one contribution to a circuit's proving key (snarkjs zkey contribute)")
    .requiredOption("--circuit <id>", "circuit id, as `fedproof circuits build` prints it")
    .requiredOption("--name <name>", "contributor name recorded in the key")
    .option("--entropy <text>", "secret randomness (default: 32 random bytes; never stored)")
    .option("--cache-dir <dir>", "artifact cache")
    .action(async (options) => {
      try {
        const artifacts = await ceremonyArtifacts(options.circuit, options.cacheDir);
        const updated = await ceremonyContribute({
          artifacts,
          name: options.name,
          entropy: options.entropy ?? randomBytes(32).toString("hex"),
        });
        emit(
          options,
          describeCircuit(updated),
          () =>
            `${updated.id}: contribution ${updated.contributions} added · vkey ${updated.verificationKeySha256} (pin the key after the last contribution)`,
        );
        await releaseSnarkjsThreads();
      } catch (error) {
        reportError(error, options);
      }
    });
  withCommon(ceremony.command("verify"))
    .description(
      "check a circuit's key descends from its r1cs and ptau through valid contributions",
    )
    .requiredOption("--circuit <id>", "circuit id")
    .option("--cache-dir <dir>", "artifact cache")
    .action(async (options) => {
      try {
        const artifacts = await ceremonyArtifacts(options.circuit, options.cacheDir);
        const verified = await ceremonyVerify(artifacts);
        emit(
          options,
          { ...verified, ...describeCircuit(artifacts) },
          () =>
            `${artifacts.id}: key verifies through ${verified.contributions} contributions · vkey ${artifacts.verificationKeySha256}`,
        );
        await releaseSnarkjsThreads();
      } catch (error) {
        reportError(error, options);
      }
    });
}

/** The production (ptau) build of a circuit; development keys have no ceremony. */
async function ceremonyArtifacts(id: string, cacheDir?: string): Promise<CircuitArtifacts> {
  const found = (await findCircuitArtifacts(id, cacheDir)).filter((a) => a.setup.kind === "ptau");
  if (found.length === 0) {
    throw new NotFoundError(
      `no production build of circuit ${id}: run fedproof circuits build --ptau FILE first`,
    );
  }
  if (found.length > 1) {
    throw new InvalidArgumentError(
      `circuit ${id} has builds from ${found.length} powers-of-tau files; use a --cache-dir holding one`,
    );
  }
  return found[0]!;
}
