/**
 * `npm run bench`: runs each benchmark as its own process, one after the other (they time
 * things, so they must not share the machine with each other), and passes `--quick` on.
 *
 *   npm run bench [-- --quick] [-- foundation proofs]
 *
 * Benchmarks not written yet are reported as skipped, not as failures. Exits non-zero when
 * any benchmark that ran failed.
 */
import { spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import path from "node:path";
import { BENCHMARKS_DIRECTORY, REPOSITORY_ROOT, renderTable, secondsSince } from "./harness.js";

/** In the order they run; each is `benchmarks/<name>.ts` and writes `results/<name>.json`. */
const BENCHMARKS = [
  "foundation",
  "proofs",
  "chain",
  "aggregation",
  "dp-noise",
  "dispute-gas",
  "training",
  "accuracy",
  "bits-accuracy",
  "robustness",
  "browser",
  "scale",
] as const;

/** Top-level files here that are shared code, not benchmarks. */
const HELPERS = new Set(["harness", "run-all"]);

const passThrough = process.argv.includes("--quick") ? ["--quick"] : [];
const requested = process.argv.slice(2).filter((argument) => !argument.startsWith("--"));
const unknown = requested.filter((name) => !(BENCHMARKS as readonly string[]).includes(name));
if (unknown.length > 0) {
  process.stderr.write(
    `unknown benchmark(s) ${unknown.join(", ")}: expected ${BENCHMARKS.join(", ")}\n`,
  );
  process.exit(2);
}
const selected =
  requested.length > 0 ? BENCHMARKS.filter((name) => requested.includes(name)) : BENCHMARKS;

const unlisted = readdirSync(BENCHMARKS_DIRECTORY)
  .filter((file) => file.endsWith(".ts"))
  .map((file) => file.slice(0, -3))
  .filter((name) => !HELPERS.has(name) && !(BENCHMARKS as readonly string[]).includes(name));
if (unlisted.length > 0) {
  process.stderr.write(`not run (add to BENCHMARKS in run-all.ts): ${unlisted.join(", ")}\n`);
}

const outcomes: (string | number)[][] = [];
let failed = 0;
for (const name of selected) {
  const file = path.join(BENCHMARKS_DIRECTORY, `${name}.ts`);
  if (!existsSync(file)) {
    outcomes.push([name, "skipped (not written yet)", "", ""]);
    continue;
  }
  const command = ["npx", "tsx", path.relative(REPOSITORY_ROOT, file), ...passThrough];
  process.stderr.write(`\n$ ${command.join(" ")}\n`);
  const started = performance.now();
  const code = await new Promise<number>((resolve) => {
    const child = spawn(command[0]!, command.slice(1), { cwd: REPOSITORY_ROOT, stdio: "inherit" });
    child.once("error", () => resolve(127));
    child.once("exit", (exitCode, signal) => resolve(exitCode ?? (signal ? 128 : 1)));
  });
  if (code !== 0) failed++;
  outcomes.push([
    name,
    code === 0 ? "ok" : `failed (exit ${code})`,
    Math.round(secondsSince(started)),
    command.join(" "),
  ]);
}

process.stdout.write(
  `\n${renderTable({ title: "Benchmarks", columns: ["benchmark", "outcome", "seconds", "command"], rows: outcomes })}`,
);
process.exit(failed > 0 ? 1 : 0);
