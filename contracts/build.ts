/**
 * Compiles the Solidity contracts with solcjs (the `solc` npm package, which bundles its own
 * compiler, so the build runs offline) and writes their ABI and bytecode as typed constants for
 * viem under contracts/generated/ (ignored by git).
 *
 * The build is skipped when nothing that shapes its output changed: the hash covers the sources,
 * the compiler version, the settings, the OpenZeppelin version the sources import from
 * (`@openzeppelin/contracts/...`, resolved from node_modules by an import callback) and this script
 * itself, and is stored in the generated file.
 *
 *   npx tsx contracts/build.ts           # build when stale
 *   npx tsx contracts/build.ts --force   # always rebuild
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import solc from "solc";
import { FedproofError } from "../common/errors.js";

const contractsDir = dirname(fileURLToPath(import.meta.url));

interface ContractTarget {
  /** Solidity file under contracts/. */
  source: string;
  contract: string;
  /** Output file under the output directory. */
  outFile: string;
  /** Prefix of the exported constants: `${prefix}Abi`, `${prefix}Bytecode`. */
  exportPrefix: string;
}

const targets: readonly ContractTarget[] = [
  {
    source: "FedproofRegistry.sol",
    contract: "FedproofRegistry",
    outFile: "fedproof-registry.ts",
    exportPrefix: "fedproofRegistry",
  },
  {
    source: "FedproofCredits.sol",
    contract: "FedproofCredits",
    outFile: "fedproof-credits.ts",
    exportPrefix: "fedproofCredits",
  },
];

const require = createRequire(import.meta.url);
const openZeppelinPrefix = "@openzeppelin/contracts/";
/** The installed OpenZeppelin Contracts root (its package.json sits there). */
const openZeppelinDir = dirname(require.resolve(`${openZeppelinPrefix}package.json`));
export const openZeppelinVersion: string = (
  JSON.parse(readFileSync(join(openZeppelinDir, "package.json"), "utf8")) as { version: string }
).version;

/**
 * solc's import callback: `@openzeppelin/contracts/...` from node_modules, `./X.sol` siblings from
 * contracts/. Anything else is refused, so a build never reads outside those two trees.
 */
function findImport(path: string): { contents: string } | { error: string } {
  try {
    if (path.startsWith(openZeppelinPrefix)) {
      const relative = path.slice(openZeppelinPrefix.length);
      if (relative.split("/").includes("..")) return { error: `refused import ${path}` };
      return { contents: readFileSync(join(openZeppelinDir, relative), "utf8") };
    }
    if (/^[A-Za-z0-9_-]+\.sol$/.test(path)) {
      return { contents: readFileSync(join(contractsDir, path), "utf8") };
    }
  } catch (error) {
    return { error: `cannot read ${path}: ${(error as Error).message}` };
  }
  return { error: `import ${path} is neither OpenZeppelin nor a contract of contracts/` };
}

const settings = {
  optimizer: { enabled: true, runs: 10_000 },
  // Cancun is what every mainstream EVM chain runs today; newer targets would only buy opcodes this
  // contract does not need, at the price of refusing to deploy on chains that lag behind.
  evmVersion: "cancun",
  outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } },
} as const;

/** The compiler settings as text, for caches of other contracts compiled with them. */
export function solcSettingsKey(): string {
  return `${JSON.stringify(settings)} @openzeppelin/contracts ${openZeppelinVersion}`;
}

export class ContractBuildError extends FedproofError {
  override name = "ContractBuildError";
}

export interface BuildContractsParameters {
  /** Rebuild even when the stored hash matches. */
  force?: boolean;
  /** Where to write the generated modules; defaults to contracts/generated. */
  outDir?: string;
}

export interface BuildContractsReturnType {
  skipped: boolean;
  sourceHash: string;
  outFiles: string[];
  /** Compiler warnings, formatted; the build fails on errors only. */
  warnings: string[];
}

interface SolcMessage {
  severity: "error" | "warning" | "info";
  formattedMessage: string;
}

interface SolcOutput {
  errors?: SolcMessage[];
  contracts?: Record<
    string,
    Record<
      string,
      {
        abi: unknown[];
        evm: { bytecode: { object: string }; deployedBytecode?: { object: string } };
      }
    >
  >;
}

export interface CompileSolidityParameters {
  /** Source name → Solidity text. */
  sources: Record<string, string>;
  /** Which contract to return. */
  source: string;
  contract: string;
}

export interface CompileSolidityReturnType {
  abi: unknown[];
  /** 0x-prefixed creation bytecode. */
  bytecode: `0x${string}`;
  /** 0x-prefixed runtime bytecode, what `eth_getCode` returns once deployed. */
  deployedBytecode: `0x${string}`;
  warnings: string[];
}

/** Compiles with the same solc, settings and import callback as the registry's build. */
export function compileSolidity(parameters: CompileSolidityParameters): CompileSolidityReturnType {
  const sources = Object.fromEntries(
    Object.entries(parameters.sources).map(([name, content]) => [name, { content }]),
  );
  const input = {
    language: "Solidity",
    sources,
    settings: {
      ...settings,
      outputSelection: {
        "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] },
      },
    },
  };
  const { output, warnings } = runSolc(input);
  const compiled = output.contracts?.[parameters.source]?.[parameters.contract];
  if (!compiled || compiled.evm.bytecode.object.length === 0) {
    throw new ContractBuildError(`solc produced no bytecode for ${parameters.contract}`);
  }
  return {
    abi: compiled.abi,
    bytecode: `0x${compiled.evm.bytecode.object}`,
    deployedBytecode: `0x${compiled.evm.deployedBytecode?.object ?? ""}`,
    warnings,
  };
}

/**
 * One solc run with the import callback that resolves @openzeppelin from node_modules: its
 * output, or ContractBuildError with every error solc reported; warnings as text.
 */
function runSolc(input: object): { output: SolcOutput; warnings: string[] } {
  const output = JSON.parse(
    solc.compile(JSON.stringify(input), { import: findImport }),
  ) as SolcOutput;
  const messages = output.errors ?? [];
  const errors = messages.filter((message) => message.severity === "error");
  if (errors.length > 0) {
    throw new ContractBuildError("Solidity compilation failed", {
      details: errors.map((error) => error.formattedMessage).join("\n"),
    });
  }
  const warnings = messages
    .filter((message) => message.severity === "warning")
    .map((message) => message.formattedMessage);
  return { output, warnings };
}

export async function buildContracts(
  parameters: BuildContractsParameters = {},
): Promise<BuildContractsReturnType> {
  const outDir = resolve(parameters.outDir ?? join(contractsDir, "generated"));
  const sources: Record<string, { content: string }> = {};
  for (const target of targets) {
    sources[target.source] = { content: await readFile(join(contractsDir, target.source), "utf8") };
  }
  const sourceHash = await hashInputs(sources);
  const outFiles = targets.map((target) => join(outDir, target.outFile));

  if (!parameters.force && (await allUpToDate(outFiles, sourceHash))) {
    return { skipped: true, sourceHash, outFiles, warnings: [] };
  }

  const input = { language: "Solidity", sources, settings };
  const { output, warnings } = runSolc(input);

  await mkdir(outDir, { recursive: true });
  for (const [index, target] of targets.entries()) {
    const compiled = output.contracts?.[target.source]?.[target.contract];
    if (!compiled || compiled.evm.bytecode.object.length === 0) {
      throw new ContractBuildError(`solc produced no bytecode for ${target.contract}`);
    }
    const outFile = outFiles[index]!;
    const module = renderModule(target, compiled.abi, compiled.evm.bytecode.object, sourceHash);
    // Write then rename, so a concurrent reader (another test worker) never sees half a file.
    const temporary = `${outFile}.${process.pid}.tmp`;
    await writeFile(temporary, module);
    await rename(temporary, outFile);
  }

  return { skipped: false, sourceHash, outFiles, warnings };
}

async function hashInputs(sources: Record<string, { content: string }>): Promise<string> {
  const hash = createHash("sha256");
  hash.update(`solc ${solc.version()}\n`);
  hash.update(`${JSON.stringify(settings)}\n`);
  hash.update(`@openzeppelin/contracts ${openZeppelinVersion}\n`);
  // The generator's own text shapes the output too: a change here must rebuild.
  hash.update(await readFile(fileURLToPath(import.meta.url)));
  for (const name of Object.keys(sources).sort()) {
    hash.update(`\n${name}\n`);
    hash.update(sources[name]!.content);
  }
  return `sha256:${hash.digest("hex")}`;
}

const hashLine = /^\/\/ source-hash: (\S+)$/m;

async function allUpToDate(outFiles: string[], sourceHash: string): Promise<boolean> {
  for (const outFile of outFiles) {
    let text: string;
    try {
      text = await readFile(outFile, "utf8");
    } catch {
      return false;
    }
    if (hashLine.exec(text)?.[1] !== sourceHash) return false;
  }
  return true;
}

function renderModule(
  target: ContractTarget,
  abi: unknown[],
  bytecode: string,
  sourceHash: string,
): string {
  return [
    `// Generated by contracts/build.ts from contracts/${target.source}; do not edit.`,
    `// source-hash: ${sourceHash}`,
    `// compiler: solc ${solc.version()}`,
    "",
    `export const ${target.exportPrefix}SourceHash = ${JSON.stringify(sourceHash)} as const;`,
    "",
    `export const ${target.exportPrefix}Abi = ${JSON.stringify(abi, null, 2)} as const;`,
    "",
    `export const ${target.exportPrefix}Bytecode = "0x${bytecode}" as const;`,
    "",
  ].join("\n");
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const force = process.argv.includes("--force");
  const result = await buildContracts({ force });
  for (const warning of result.warnings) process.stderr.write(`${warning}\n`);
  const verb = result.skipped ? "up to date" : "built";
  process.stdout.write(`contracts ${verb} (${result.sourceHash})\n`);
  for (const file of result.outFiles) process.stdout.write(`  ${file}\n`);
}
