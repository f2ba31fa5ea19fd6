/**
 * The snarkjs Groth16 Solidity verifier of one circuit: exported from its zkey with the template
 * snarkjs ships (`snarkjs.zKey.exportSolidityVerifier`, node_modules/snarkjs/templates), compiled
 * with the registry's own solc and settings (build.ts `compileSolidity`). Disputes call it
 * (FedproofRegistry.dispute); register-job.ts deploys one per circuit of a job.
 *
 * The compiled bytecode is cached by content hash (the rendered source, the compiler and the
 * settings) under the build cache ($FEDPROOF_CACHE_DIR or ~/.cache/fedproof)/verifiers, so a
 * coordinator compiles each circuit's verifier once, not once per job.
 */
import { createHash } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import ejs from "ejs";
import * as snarkjs from "snarkjs";
import solc from "solc";
import type { Hex } from "viem";
import { cacheRoot } from "../circuits/artifact-cache.js";
import { compileSolidity, solcSettingsKey } from "./build.js";

const require = createRequire(import.meta.url);
// snarkjs's exports map hides package.json; its CommonJS entry is build/main.cjs.
const snarkjsDir = dirname(dirname(require.resolve("snarkjs")));

/** snarkjs 0.7's export, which circuits/vendor-types.d.ts does not declare. */
type ExportSolidityVerifier = (
  zkey: string | Uint8Array,
  templates: { groth16: string },
) => Promise<string>;

let template: Promise<string> | undefined;

function groth16Template(): Promise<string> {
  template ??= readFile(join(snarkjsDir, "templates", "verifier_groth16.sol.ejs"), "utf8");
  return template;
}

export type Groth16VerifierParameters = (
  | {
      /** The circuit's final zkey (path or bytes). */
      zkey: string | Uint8Array;
    }
  | {
      /**
       * The circuit's verification key as snarkjs exports it (`zkey export verificationkey`, a
       * bundle's `verificationKeys`): the template reads nothing else from the zkey, so the
       * source, and the bytecode, are the same as from the zkey.
       */
      verificationKey: object;
    }
) & {
  /** Overrides $FEDPROOF_CACHE_DIR and ~/.cache/fedproof. */
  cacheDir?: string;
};

export interface Groth16VerifierReturnType {
  /** The rendered Solidity source (contract `Groth16Verifier`). */
  source: string;
  /** sha256 of source, compiler and settings: the cache key. */
  sourceHash: string;
  bytecode: Hex;
  /** What `eth_getCode` returns for a deployment of it. */
  deployedBytecode: Hex;
}

/** The ABI every snarkjs Groth16 verifier shares, apart from N (the public signals). */
export function groth16VerifierAbi(signals: number) {
  return [
    {
      type: "function",
      name: "verifyProof",
      stateMutability: "view",
      inputs: [
        { name: "_pA", type: "uint256[2]" },
        { name: "_pB", type: "uint256[2][2]" },
        { name: "_pC", type: "uint256[2]" },
        { name: "_pubSignals", type: `uint256[${signals}]` },
      ],
      outputs: [{ name: "", type: "bool" }],
    },
  ] as const;
}

export async function groth16Verifier(
  parameters: Groth16VerifierParameters,
): Promise<Groth16VerifierReturnType> {
  const exportSolidityVerifier = (
    snarkjs.zKey as unknown as { exportSolidityVerifier: ExportSolidityVerifier }
  ).exportSolidityVerifier;
  const source =
    "zkey" in parameters
      ? await exportSolidityVerifier(parameters.zkey, { groth16: await groth16Template() })
      : ejs.render(await groth16Template(), parameters.verificationKey);
  const sourceHash = createHash("sha256")
    .update(`solc ${solc.version()}\n${solcSettingsKey()}\n`)
    .update(source)
    .digest("hex");
  const cacheFile = join(cacheRoot(parameters.cacheDir), "verifiers", `${sourceHash}.json`);
  try {
    const cached = JSON.parse(await readFile(cacheFile, "utf8")) as {
      bytecode: Hex;
      deployedBytecode: Hex;
    };
    if (cached.bytecode?.startsWith("0x") && cached.deployedBytecode?.startsWith("0x")) {
      return { source, sourceHash, ...cached };
    }
  } catch {
    // Not cached yet (or unreadable): compile.
  }
  const compiled = compileSolidity({
    sources: { "Groth16Verifier.sol": source },
    source: "Groth16Verifier.sol",
    contract: "Groth16Verifier",
  });
  await mkdir(dirname(cacheFile), { recursive: true });
  // Write then rename: a concurrent reader never sees half a file.
  const temporary = `${cacheFile}.${process.pid}.tmp`;
  await writeFile(
    temporary,
    JSON.stringify({ bytecode: compiled.bytecode, deployedBytecode: compiled.deployedBytecode }),
  );
  await rename(temporary, cacheFile);
  return {
    source,
    sourceHash,
    bytecode: compiled.bytecode,
    deployedBytecode: compiled.deployedBytecode,
  };
}
