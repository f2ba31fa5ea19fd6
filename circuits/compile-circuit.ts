import { spawn } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { FedproofError } from "../common/errors.js";

const require = createRequire(import.meta.url);

/** Folder holding the fedproof circom templates. */
export const CIRCUITS_DIR = dirname(fileURLToPath(import.meta.url));
/** circomlib's circuits (Poseidon, comparators, Baby Jubjub, EdDSA). */
export const CIRCOMLIB_DIR = join(dirname(require.resolve("circomlib/package.json")), "circuits");
const CIRCOM_CLI = join(dirname(require.resolve("circom2/package.json")), "cli.js");

/** The circom compiler failed: a template error, or a constraint the compiler rejects. */
export class CircuitCompileError extends FedproofError {
  override name = "CircuitCompileError";
  constructor(shortMessage: string, details: string) {
    super(shortMessage, { details, code: "INTERNAL" });
  }
}

export interface CompileCircuitParameters {
  /** Output base name: `<name>.r1cs`, `<name>.sym`, `<name>_js/<name>.wasm`. */
  name: string;
  mainSource: string;
  outDir: string;
}

export interface CompileCircuitReturnType {
  r1csPath: string;
  symPath: string;
  wasmPath: string;
  constraints: number;
  publicInputs: number;
  publicOutputs: number;
  privateInputs: number;
  wires: number;
  seconds: number;
}

/**
 * Compiles a circom main with the circom2 package (the compiler built to WebAssembly, run
 * under WASI): `--O2` (full linear simplification: about 40% fewer constraints than the
 * default `--O1` on these circuits), producing r1cs, the wasm witness generator and symbols.
 *
 * The compiler runs with `/` as working directory because its WASI sandbox preopens only the
 * working directory and its parents; from `/` every absolute path (cache, circomlib, templates)
 * is reachable.
 */
export async function compileCircuit(
  parameters: CompileCircuitParameters,
): Promise<CompileCircuitReturnType> {
  const { name, mainSource, outDir } = parameters;
  await mkdir(outDir, { recursive: true });
  const mainPath = join(outDir, `${name}.circom`);
  await writeFile(mainPath, mainSource);
  const started = performance.now();
  const args = [
    CIRCOM_CLI,
    mainPath,
    "--r1cs",
    "--wasm",
    "--sym",
    "--O2",
    "-l",
    CIRCUITS_DIR,
    "-l",
    CIRCOMLIB_DIR,
    "-o",
    outDir,
  ];
  const { code, output } = await run(process.execPath, args, "/");
  const text = stripAnsi(output);
  if (code !== 0 || !text.includes("Everything went okay")) {
    throw new CircuitCompileError(`circom failed to compile ${name}`, text.slice(-4000));
  }
  const count = (label: string): number => {
    const match = new RegExp(`^${label}: (\\d+)`, "m").exec(text);
    if (!match)
      throw new CircuitCompileError(
        `circom output for ${name} lacks "${label}"`,
        text.slice(-2000),
      );
    return Number(match[1]);
  };
  return {
    r1csPath: join(outDir, `${name}.r1cs`),
    symPath: join(outDir, `${name}.sym`),
    wasmPath: join(outDir, `${name}_js`, `${name}.wasm`),
    constraints: count("non-linear constraints") + count("linear constraints"),
    publicInputs: count("public inputs"),
    publicOutputs: count("public outputs"),
    privateInputs: count("private inputs"),
    wires: count("wires"),
    seconds: (performance.now() - started) / 1000,
  };
}

/** circom2's package version, part of the artifact cache key. */
export function circomVersion(): string {
  return (require("circom2/package.json") as { version: string }).version;
}

function run(
  command: string,
  args: string[],
  cwd: string,
): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? 1, output }));
  });
}

function stripAnsi(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escapes start with ESC.
  return text.replace(/\u001b\[[0-9;]*m/g, "");
}
