/**
 * Shared plumbing for every benchmark in this folder: where the machine and the command
 * came from, simple statistics, and one way of writing results, so that every
 * `benchmarks/results/<name>.json` has the same top-level shape (`summary`, `machine`,
 * `command`, `date`) and every `<name>.md` the same tables as the console shows.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { InvalidArgumentError } from "../common/errors.js";

export const BENCHMARKS_DIRECTORY = path.dirname(fileURLToPath(import.meta.url));
export const RESULTS_DIRECTORY = path.join(BENCHMARKS_DIRECTORY, "results");
export const REPOSITORY_ROOT = path.dirname(BENCHMARKS_DIRECTORY);

/** Read when a benchmark imports this module, i.e. before it has done any work. */
const LOAD_AVERAGE_AT_START = round(os.loadavg()[0] ?? 0, 2);

/** A named figure, as it appears in `summary`; null when the benchmark could not measure it. */
export type FigureValue = number | string | boolean | null;

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  /**
   * 1-minute load averages when the benchmark process started and when it wrote its
   * results: other work on the machine (or the benchmark's own children) skews timings.
   */
  loadAverageAtStart: number;
  loadAverageAtEnd: number;
  platform: string;
  nodeVersion: string;
  tfjsVersion: string;
  gitCommit: string;
  /** Uncommitted changes to tracked files when the run started. */
  gitDirty: boolean;
}

/** What the machine and the checkout were when a benchmark ran; recorded with every result. */
export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model.trim() ?? "unknown",
    cores: cpus.length,
    memoryGiB: round(os.totalmem() / 2 ** 30, 1),
    loadAverageAtStart: LOAD_AVERAGE_AT_START,
    loadAverageAtEnd: round(os.loadavg()[0] ?? 0, 2),
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    nodeVersion: process.version,
    tfjsVersion: packageVersion("@tensorflow/tfjs"),
    gitCommit: git(["rev-parse", "HEAD"]) ?? "unknown",
    gitDirty: (git(["status", "--porcelain", "--untracked-files=no"]) ?? "") !== "",
  };
}

/**
 * The command that reproduces this run, as typed from the repository root:
 * `npx tsx benchmarks/foundation.ts --quick`.
 */
export function currentCommand(): string {
  const script = process.argv[1] ? path.relative(REPOSITORY_ROOT, process.argv[1]) : "";
  return ["npx", "tsx", script, ...process.argv.slice(2)].filter((part) => part !== "").join(" ");
}

/** True when the run was asked to be short (`--quick`): smaller workloads, fewer repeats. */
export function isQuick(argv: readonly string[] = process.argv): boolean {
  return argv.includes("--quick");
}

/**
 * The results name for this run: `<name>`, or `<name>-quick` under `--quick`, so that a
 * smoke run never overwrites the committed full results (quick files are git-ignored).
 */
export function resultsName(name: string, argv: readonly string[] = process.argv): string {
  return isQuick(argv) ? `${name}-quick` : name;
}

/** The value after `--name`, or `fallback` when the flag is absent. */
export function option(
  name: string,
  fallback: string,
  argv: readonly string[] = process.argv,
): string {
  const at = argv.indexOf(`--${name}`);
  return at >= 0 && at + 1 < argv.length ? argv[at + 1]! : fallback;
}

export interface ResultTable {
  title: string;
  columns: string[];
  rows: (string | number)[][];
  /** Printed under the table: how to read it, what was held fixed. */
  note?: string;
}

export interface BenchmarkResults {
  summary: Record<string, FigureValue>;
  /** Anything else the benchmark wants kept: per-case measurements, curves, settings. */
  [detail: string]: unknown;
}

export interface WriteResultsReturnType {
  jsonPath: string;
  markdownPath: string;
  /** The markdown written to `markdownPath`, also printed to stdout. */
  markdown: string;
}

/**
 * Writes `benchmarks/results/<name>.json` (name, date, command, machine, summary, then the
 * details) and `<name>.md` (the summary and the given tables), and prints the tables.
 */
export function writeResults(
  name: string,
  results: BenchmarkResults,
  tables: ResultTable | readonly ResultTable[],
): WriteResultsReturnType {
  if (!/^[a-z0-9][a-z0-9-]*$/.test(name)) {
    throw new InvalidArgumentError(`benchmark name must be kebab-case, got "${name}"`);
  }
  const { summary, ...details } = results;
  const machine = machineInfo();
  const command = currentCommand();
  const date = new Date().toISOString();
  const npmScript = process.env.npm_lifecycle_event;
  const document = {
    name,
    date,
    command,
    // npm sets this for `npm run bench` and each child benchmark inherits it; npx sets it too.
    ...(npmScript && npmScript !== "npx" ? { launchedBy: `npm run ${npmScript}` } : {}),
    machine,
    summary,
    ...details,
  };
  const summaryTable: ResultTable = {
    title: "Summary",
    columns: ["figure", "value"],
    rows: Object.entries(summary).map(([figure, value]) => [figure, formatFigure(value)]),
  };
  const markdown = [
    `# Benchmark: ${name}`,
    "",
    `\`${command}\` · ${date} · commit ${machine.gitCommit.slice(0, 12)}${machine.gitDirty ? " (dirty)" : ""}`,
    "",
    `${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGiB} GiB, load ${machine.loadAverageAtStart} at start, ${machine.loadAverageAtEnd} at end · Node ${machine.nodeVersion} · tfjs ${machine.tfjsVersion}`,
    "",
    ...[summaryTable, ...(Array.isArray(tables) ? tables : [tables])].map(renderTable),
  ].join("\n");
  mkdirSync(RESULTS_DIRECTORY, { recursive: true });
  const jsonPath = path.join(RESULTS_DIRECTORY, `${name}.json`);
  const markdownPath = path.join(RESULTS_DIRECTORY, `${name}.md`);
  writeFileSync(jsonPath, `${JSON.stringify(document, null, 2)}\n`);
  writeFileSync(markdownPath, markdown);
  process.stdout.write(`${markdown}\n`);
  process.stdout.write(
    `wrote ${path.relative(REPOSITORY_ROOT, jsonPath)} and ${path.relative(REPOSITORY_ROOT, markdownPath)}\n`,
  );
  return { jsonPath, markdownPath, markdown };
}

/** A GitHub-flavoured markdown table under a `##` heading, numeric columns right-aligned. */
export function renderTable(table: ResultTable): string {
  const cells = table.rows.map((row) =>
    row.map((cell) => (typeof cell === "number" ? formatNumber(cell) : cell)),
  );
  // Right-align a column of figures even when some rows leave it blank.
  const blank = (cell: string | number | undefined) =>
    cell === undefined || cell === "" || cell === "—";
  const numeric = table.columns.map(
    (_, column) =>
      table.rows.some((row) => typeof row[column] === "number") &&
      table.rows.every((row) => typeof row[column] === "number" || blank(row[column])),
  );
  const line = (values: string[]) =>
    `| ${values.map((value) => value.replaceAll("|", "\\|")).join(" | ")} |`;
  return [
    `## ${table.title}`,
    "",
    line(table.columns),
    line(table.columns.map((_, column) => (numeric[column] ? "---:" : "---"))),
    ...cells.map((row) => line(table.columns.map((_, column) => row[column] ?? ""))),
    "",
    ...(table.note ? [table.note, ""] : []),
  ].join("\n");
}

/** Three significant digits for small figures, thousands kept whole: 0.0123, 4.56, 7890. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value)) return String(value);
  const magnitude = Math.abs(value);
  if (magnitude >= 1000) return String(Math.round(value));
  return String(Number(value.toPrecision(3)));
}

function formatFigure(value: FigureValue): string {
  if (value === null) return "not measured";
  return typeof value === "number" ? formatNumber(value) : String(value);
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new InvalidArgumentError("median of an empty list");
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export function mean(values: readonly number[]): number {
  if (values.length === 0) throw new InvalidArgumentError("mean of an empty list");
  return values.reduce((sum, value) => sum + value, 0) / values.length;
}

export function round(value: number, digits: number): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

/** Seconds elapsed since `startMs` (a `performance.now()` reading). */
export function secondsSince(startMs: number): number {
  return (performance.now() - startMs) / 1000;
}

function git(args: string[]): string | undefined {
  try {
    return execFileSync("git", args, {
      cwd: REPOSITORY_ROOT,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    }).trim();
  } catch {
    return undefined;
  }
}

function packageVersion(name: string): string {
  try {
    const require = createRequire(import.meta.url);
    const manifest = require(`${name}/package.json`) as { version?: string };
    return manifest.version ?? "unknown";
  } catch {
    return "not installed";
  }
}
