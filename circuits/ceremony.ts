import { readdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import * as snarkjs from "snarkjs";
import { FedproofError, InvalidArgumentError } from "../common/errors.js";
import { readJson } from "./artifact-cache.js";
import { type CircuitArtifacts, type CompileRecord, describeArtifacts } from "./build.js";

/**
 * The circuit-key ceremony (Groth16 phase 2) for production keys. `buildCircuits` with a
 * ceremony ptau writes contribution 0000, which is not safe to use: with no contribution,
 * δ is the group generator. Each participant runs `ceremonyContribute` with their own
 * entropy and passes the file on; anyone can run `ceremonyVerify` against the r1cs and the
 * ptau. The keys are sound if at least one contributor destroyed their entropy.
 */

/** A zkey that does not descend from this circuit and ptau, or a broken contribution chain. */
export class CeremonyVerificationError extends FedproofError {
  override name = "CeremonyVerificationError";
  constructor(shortMessage: string) {
    super(shortMessage, { code: "FAILED_PRECONDITION" });
  }
}

export interface CeremonyContributeParameters {
  /** The artifacts from `buildCircuits({ dev: false, ptau })` or from a previous contribution. */
  artifacts: CircuitArtifacts;
  /** Contributor's name, recorded in the zkey. */
  name: string;
  /** The contributor's secret randomness; never stored. */
  entropy: string;
}

/**
 * Adds one contribution (`snarkjs zkey contribute`), writes `<name>.<NNNN>.zkey` next to
 * the previous one, re-exports the verification key and returns the updated artifacts.
 * The verification key changes with every contribution: pin the one after the last.
 */
export async function ceremonyContribute(
  parameters: CeremonyContributeParameters,
): Promise<CircuitArtifacts> {
  const { artifacts, name, entropy } = parameters;
  if (artifacts.setup.kind !== "ptau") {
    throw new InvalidArgumentError(
      "development keys have no ceremony; build with --ptau for production",
    );
  }
  if (entropy.length < 16)
    throw new InvalidArgumentError("contribution entropy must be at least 16 characters");
  const setupDir = dirname(artifacts.zkeyPath);
  const next = artifacts.contributions + 1;
  const zkeyPath = join(setupDir, `${artifacts.name}.${String(next).padStart(4, "0")}.zkey`);
  await snarkjs.zKey.contribute(artifacts.zkeyPath, zkeyPath, name, entropy);
  const updated = await describeArtifacts({
    spec: artifacts.spec,
    dir: dirname(artifacts.r1csPath),
    setupDir,
    record: await readJson<CompileRecord>(join(dirname(artifacts.r1csPath), "compile.json")),
    zkeyPath,
    setup: artifacts.setup,
    contributions: next,
    setupSeconds: artifacts.setupSeconds,
  });
  await writeFile(join(setupDir, "artifact.json"), `${JSON.stringify(updated, null, 2)}\n`);
  return updated;
}

export interface CeremonyVerifyReturnType {
  ok: true;
  contributions: number;
  zkeys: string[];
}

/**
 * Checks that the current zkey descends from this r1cs and this powers of tau through valid
 * contributions (`snarkjs zkey verify`). Throws CeremonyVerificationError otherwise.
 */
export async function ceremonyVerify(
  artifacts: CircuitArtifacts,
): Promise<CeremonyVerifyReturnType> {
  if (artifacts.setup.kind !== "ptau") {
    throw new InvalidArgumentError(
      "development keys have no ceremony to verify (they are insecure by design)",
    );
  }
  const ok = await snarkjs.zKey.verifyFromR1cs(
    artifacts.r1csPath,
    artifacts.setup.ptauPath,
    artifacts.zkeyPath,
  );
  if (!ok) {
    throw new CeremonyVerificationError(
      `${artifacts.zkeyPath} does not verify against ${artifacts.r1csPath} and the ptau`,
    );
  }
  const setupDir = dirname(artifacts.zkeyPath);
  const zkeys = (await readdir(setupDir)).filter((f) => f.endsWith(".zkey")).sort();
  return { ok: true, contributions: artifacts.contributions, zkeys };
}
