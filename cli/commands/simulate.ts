import { fileURLToPath } from "node:url";
import { type Command, Option } from "commander";
import { parseByzantine } from "../../client/core/byzantine.js";
import { parsePartition } from "../../client/core/data/partition.js";
import type { PreferredBackend } from "../../client/node/backend.js";
import { parseDatasetName } from "../../client/node/simulated-data.js";
import { runFleet } from "../../client/node/simulation/fleet.js";
import { mergeFleetReports, spawnFleetShards } from "../../client/node/simulation/fleet-shards.js";
import { prepareTrainingBackend } from "../../client/node/training-backend.js";
import { InvalidArgumentError } from "../../common/errors.js";
import { parseModelPreset } from "../../protocol/model/presets.js";
import { createLogger, emit, progress, reportError } from "../output.js";
import {
  channelCredentialsOf,
  coordinatorOf,
  int,
  num,
  withCommon,
  withCoordinatorAddress,
} from "./options.js";

const BIN = fileURLToPath(new URL("../../bin/fedproof.js", import.meta.url));

/** Flags a shard process gets from its parent as given, in `--flag value` form. */
const SHARED_FLAGS = [
  "coordinator",
  "job",
  "devices",
  "churn",
  "churnWindow",
  "churnOffline",
  "dataset",
  "partition",
  "recordsPerDevice",
  "seed",
  "model",
  "backend",
  "joinsPerSecond",
  "byzantine",
  "logLevel",
] as const;

export function registerSimulateCommand(program: Command): void {
  withCoordinatorAddress(withCommon(program.command("simulate")))
    .description(
      "run a fleet of virtual devices on a job through the real gRPC API: each with its own key, signed Join, partition, session and task stream, sharing per process the data pool, tfjs, one channel per coordinator and the provers; only selected devices train",
    )
    .requiredOption("--job <id>", "job to join")
    .option("--devices <n>", "virtual devices in the fleet", int("devices", 1), 1000)
    .option(
      "--processes <n>",
      "processes to spread the fleet over (training and proving of one process share one event loop)",
      int("processes", 1),
      2,
    )
    .option(
      "--churn <fraction>",
      "fraction of the fleet that drops each round (every stream closed) and rejoins",
      num("churn"),
      0,
    )
    .option(
      "--churn-window <ms>",
      "drops fall within this long after each round starts",
      int("churn-window"),
      2_000,
    )
    .option(
      "--churn-offline <min-max>",
      "milliseconds a dropped device stays offline, drawn uniformly",
      "1000-5000",
    )
    .addOption(
      new Option("--dataset <name>", "data")
        .choices(["synthetic", "fashion-mnist"])
        .default("synthetic"),
    )
    .option("--partition <spec>", "iid | dirichlet:ALPHA", "iid")
    .option(
      "--records-per-device <n>",
      "synthetic data: pool records per device",
      int("records-per-device", 1),
      20,
    )
    .option("--seed <n>", "seed for data, partitions and churn", int("seed"), 0)
    .option("--model <preset>", "model preset, to choose a backend that can train it", "mlp")
    .addOption(
      new Option("--backend <name>", "tfjs backend")
        .choices(["auto", "tensorflow", "wasm", "cpu"])
        .default("auto"),
    )
    .option(
      "--joins-per-second <n>",
      "the fleet's first Joins per second, under the job's Join rate limit (coordinator --joins-per-second, default 50); 0: all at once",
      int("joins-per-second"),
      40,
    )
    .option(
      "--byzantine <k:attack>",
      "make fleet devices 0 … k−1 malicious within the clip bound: scale | signflip | noise",
    )
    .addOption(
      new Option("--shard <k/P>", "run only shard k of P (set by the parent process)").hideHelp(),
    )
    .action(async (options) => {
      const logger = createLogger(options, "warn");
      try {
        parsePartition(options.partition);
        const dataset = parseDatasetName(options.dataset);
        const offline = parseRange(options.churnOffline);
        const churn = {
          fraction: options.churn,
          windowMs: options.churnWindow,
          offlineMs: offline,
        };
        const byzantine = options.byzantine ? parseByzantine(options.byzantine) : undefined;
        if (!options.shard && options.processes > 1) {
          const shards = spawnFleetShards({
            bin: BIN,
            processes: options.processes,
            args: sharedArgs(options),
          });
          const stop = () => void shards.stop();
          process.once("SIGTERM", stop);
          process.once("SIGINT", stop);
          const reports = await shards.done;
          const failed = reports.filter((report) => report === null).length;
          const merged = mergeFleetReports(reports.filter((report) => report !== null));
          emit(options, { ...merged, failedProcesses: failed }, () =>
            describeFleet(merged, failed),
          );
          process.exit(failed === 0 && merged.errors === 0 ? 0 : 2);
        }
        const shard = options.shard ? parseShard(options.shard) : { index: 0, count: 1 };
        const backend = await prepareTrainingBackend(
          parseModelPreset(options.model),
          options.backend as PreferredBackend,
        );
        const report = await runFleet({
          address: coordinatorOf(options),
          credentials: channelCredentialsOf(options),
          jobId: options.job,
          devices: options.devices,
          shard,
          dataset,
          partition: options.partition,
          seed: options.seed,
          recordsPerDevice: options.recordsPerDevice,
          churn,
          joinsPerSecond: options.joinsPerSecond,
          backend: backend.backend,
          byzantine: byzantine && {
            count: byzantine.count,
            attack: byzantine.attack,
          },
          logger,
          onProgress: (line) => progress(options, line),
        });
        const merged = mergeFleetReports([report]);
        emit(options, report, () => describeFleet(merged, 0));
        process.exit(report.errors === 0 ? 0 : 2);
      } catch (error) {
        reportError(error, options);
      }
    });
}

function sharedArgs(options: Record<string, unknown>): string[] {
  const args: string[] = [];
  for (const key of SHARED_FLAGS) {
    const value = options[key];
    if (value === undefined) continue;
    args.push(`--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`, String(value));
  }
  return args;
}

function parseShard(value: string): { index: number; count: number } {
  const match = /^(\d+)\/(\d+)$/.exec(value);
  const index = Number(match?.[1]);
  const count = Number(match?.[2]);
  if (!match || count < 1 || index >= count) {
    throw new InvalidArgumentError(`--shard must be k/P with 0 ≤ k < P, got ${value}`);
  }
  return { index, count };
}

function parseRange(value: string): [number, number] {
  const match = /^(\d+)-(\d+)$/.exec(value);
  if (!match || Number(match[1]) > Number(match[2])) {
    throw new InvalidArgumentError(`--churn-offline must be MIN-MAX milliseconds, got ${value}`);
  }
  return [Number(match[1]), Number(match[2])];
}

function describeFleet(merged: ReturnType<typeof mergeFleetReports>, failed: number): string {
  return [
    `${merged.devices} virtual devices in ${merged.processes} process(es): ${merged.completed} saw the job end, ${merged.offlineAtEnd} were offline at its end, ${merged.errors} failed${failed ? `, ${failed} processes failed` : ""}`,
    `enrolled in ${merged.enrolSeconds.toFixed(1)} s (${merged.firstJoinsPerSecond.toFixed(1)} Joins/s); ${merged.joins} Joins in all, ${merged.drops} drops`,
    ...merged.rounds.map(
      (r) =>
        `  round ${r.round}: ${r.trained} trained, ${r.accepted} accepted, ${r.late} late, ${r.refused} refused, ${r.dropped} dropped${r.meanProveSeconds > 0 ? `, ${r.meanProveSeconds.toFixed(1)} s proving per device` : ""}`,
    ),
    ...merged.memoryPerProcess.map(
      (m, i) =>
        `  process ${i}: ${m.baselineMB} MB before the devices, ${m.joinedMB} MB with all joined (${m.perDeviceKB} KB per device), peak ${m.peakMB} MB`,
    ),
    ...merged.errorSamples.map((line) => `  error: ${line}`),
  ].join("\n");
}
