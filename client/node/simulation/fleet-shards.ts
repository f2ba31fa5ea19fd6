import { type ChildProcess, spawn } from "node:child_process";
import type { RunFleetReturnType } from "./fleet.js";

export interface SpawnFleetShardsParameters {
  /** The `fedproof` entry point (bin/fedproof.js). */
  bin: string;
  /** Processes; shard k runs the fleet's devices k, k + processes, k + 2·processes, … */
  processes: number;
  /** `fedproof simulate` flags every shard shares (job, coordinator, devices, data, churn). */
  args: readonly string[];
  /** Where the shards' stderr goes (default: inherited). */
  stderr?: "inherit" | "ignore";
}

export interface FleetShardProcesses {
  pids: number[];
  /** Each shard's report (its `--json` document), or null for a shard that failed or was stopped. */
  done: Promise<(RunFleetReturnType | null)[]>;
  /** SIGTERM every shard still running, SIGKILL after `graceMs`; resolves with their exit codes. */
  stop(graceMs?: number): Promise<(number | null)[]>;
}

/**
 * The fleet as `processes` `fedproof simulate --shard k/P` processes: one Node process holds
 * a few hundred idle devices easily, but training and proving on one event loop queue behind
 * each other, so a fleet spreads over as many processes as there are cores to train on.
 */
export function spawnFleetShards(parameters: SpawnFleetShardsParameters): FleetShardProcesses {
  const children: ChildProcess[] = [];
  const exits: Promise<number | null>[] = [];
  const reports: Promise<RunFleetReturnType | null>[] = [];
  for (let shard = 0; shard < parameters.processes; shard++) {
    const child = spawn(
      process.execPath,
      [
        parameters.bin,
        "simulate",
        ...parameters.args,
        "--shard",
        `${shard}/${parameters.processes}`,
        "--json",
      ],
      { stdio: ["ignore", "pipe", parameters.stderr ?? "inherit"] },
    );
    children.push(child);
    let stdout = "";
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
    });
    const exit = new Promise<number | null>((resolve) => {
      child.once("exit", (code) => resolve(code));
      child.once("error", () => resolve(1));
    });
    exits.push(exit);
    reports.push(
      exit.then(() => {
        try {
          return JSON.parse(stdout) as RunFleetReturnType;
        } catch {
          return null;
        }
      }),
    );
  }
  const running = () => children.filter((c) => c.exitCode === null && c.signalCode === null);
  let stopped: Promise<(number | null)[]> | undefined;
  return {
    pids: children.map((child) => child.pid ?? -1),
    done: Promise.all(reports),
    stop(graceMs = 5_000) {
      stopped ??= (async () => {
        for (const child of running()) child.kill("SIGTERM");
        const kill = setTimeout(() => {
          for (const child of running()) child.kill("SIGKILL");
        }, graceMs);
        try {
          return await Promise.all(exits);
        } finally {
          clearTimeout(kill);
        }
      })();
      return stopped;
    },
  };
}

/** The shards' reports as one fleet's (memory per process, the rest summed or merged). */
export function mergeFleetReports(reports: readonly RunFleetReturnType[]) {
  const rounds = new Map<number, RunFleetReturnType["rounds"][number]>();
  const proveTotals = new Map<number, number>();
  for (const report of reports) {
    for (const row of report.rounds) {
      const merged = rounds.get(row.round) ?? {
        ...row,
        trained: 0,
        accepted: 0,
        refused: 0,
        late: 0,
        dropped: 0,
        meanProveSeconds: 0,
      };
      merged.trained += row.trained;
      merged.accepted += row.accepted;
      merged.refused += row.refused;
      merged.late += row.late;
      merged.dropped += row.dropped;
      proveTotals.set(
        row.round,
        (proveTotals.get(row.round) ?? 0) + row.meanProveSeconds * row.trained,
      );
      rounds.set(row.round, merged);
    }
  }
  const sum = (pick: (report: RunFleetReturnType) => number) =>
    reports.reduce((total, report) => total + pick(report), 0);
  const devices = sum((r) => r.devices);
  const enrolSeconds = Math.max(0, ...reports.map((r) => r.enrolSeconds));
  return {
    processes: reports.length,
    devices,
    completed: sum((r) => r.completed),
    offlineAtEnd: sum((r) => r.offlineAtEnd),
    errors: sum((r) => r.errors),
    enrolSeconds,
    firstJoinsPerSecond: enrolSeconds > 0 ? devices / enrolSeconds : 0,
    joins: sum((r) => r.joins),
    drops: sum((r) => r.drops),
    rounds: [...rounds.values()]
      .sort((a, b) => a.round - b.round)
      .map((row) => ({
        ...row,
        meanProveSeconds: row.trained > 0 ? (proveTotals.get(row.round) ?? 0) / row.trained : 0,
      })),
    memoryPerProcess: reports.map((r) => r.memory),
    errorSamples: reports.flatMap((r) =>
      r.results
        .filter((d) => d.outcome === "error")
        .slice(0, 3)
        .map((d) => `${d.deviceId}: ${d.error}`),
    ),
  };
}

export type MergedFleetReport = ReturnType<typeof mergeFleetReports>;
