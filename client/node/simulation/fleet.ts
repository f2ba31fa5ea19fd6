/**
 * A fleet of virtual devices in one process, each a real `Device` on the real gRPC API: its
 * own Baby Jubjub key and signed Join, its own partition, session and task stream. What they
 * share is what a process can share without changing the protocol: the data pool, the tfjs
 * backend, one channel per coordinator and (with proofs) one prover thread per circuit.
 * Idle devices cost a stream and a few objects; only the selected ones train and prove.
 */
import type * as grpc from "@grpc/grpc-js";
import type { Logger } from "pino";
import { InvalidArgumentError } from "../../../common/errors.js";
import { createFedproofClients, unary } from "../../../proto/clients.js";
import type { JobEvent__Output } from "../../../proto/generated/fedproof/v1/JobEvent.js";
import type { ProofSetup__Output } from "../../../proto/generated/fedproof/v1/ProofSetup.js";
import { type Dataset, subset } from "../../../protocol/data/dataset.js";
import { createRng } from "../../../protocol/random.js";
import { applyAttack, type ByzantineAttack } from "../../core/byzantine.js";
import { parsePartition, partition } from "../../core/data/partition.js";
import { Device, type DeviceRunReturnType, type RoundReport } from "../device.js";
import { requiresProofs } from "../device-proofs.js";
import { type DatasetName, loadTrainingPool } from "../simulated-data.js";
import { type ChurnOptions, churnPlan } from "./churn.js";
import { type SharedProvers, startSharedProvers } from "./shared-provers.js";
import { SharedChannels, VirtualLink } from "./virtual-link.js";

export interface FleetShard {
  /** This process runs the devices whose index ≡ `index` (mod `count`). */
  index: number;
  count: number;
}

export interface RunFleetParameters {
  address: string;
  credentials?: grpc.ChannelCredentials;
  jobId: string;
  /** Devices in the whole fleet (every shard). */
  devices: number;
  shard?: FleetShard;
  dataset: DatasetName;
  partition: string;
  seed: number;
  /**
   * Synthetic data: the pool holds this many records per device (at least the 4,000 of
   * `fedproof client --simulate`), so a large fleet does not leave devices a record or two
   * (default 20).
   */
  recordsPerDevice?: number;
  /** Drop (close every stream of) this fraction of the fleet per round, and let it rejoin. */
  churn?: ChurnOptions;
  /**
   * The whole fleet's first Joins per second, spread over its shards, to stay under the job's
   * Join rate limit (coordinator `--joins-per-second`, default 50); 0: all at once (default 40).
   */
  joinsPerSecond?: number;
  /**
   * Devices of this process setting up at once (proof setup, dataset commitment, signed Join)
   * before their first Join succeeds (default 8): a device's setup is CPU work (Poseidon hashes,
   * an EdDSA signature), and hundreds at once would starve the event loop every device's
   * streams and Join challenges run on.
   */
  enrolConcurrency?: number;
  /** Device id of fleet device i: `${prefix}${i}`, zero-padded (default "sim-"). */
  deviceIdPrefix?: string;
  /** The tfjs backend in use, reported at Join. */
  backend?: string;
  /** Fleet devices 0 … count−1 attack within the clip bound (robustness studies). */
  byzantine?: { count: number; attack: ByzantineAttack };
  logger: Logger;
  /** The devices' own logger (default: `logger` at level error: a thousand devices are noisy). */
  deviceLogger?: Logger;
  onProgress?: (line: string) => void;
}

export interface FleetDeviceResult {
  index: number;
  deviceId: string;
  /**
   * "completed": the coordinator told it the job ended; "offline-at-end": it was dropped when
   * the job ended and its rejoin found the job over; "error": anything else (see `error`).
   */
  outcome: "completed" | "offline-at-end" | "error";
  error?: string;
  jobState: string;
  joins: number;
  drops: number;
  rounds: RoundReport[];
}

export interface FleetRound {
  round: number;
  /** Devices of this fleet (shard) that trained for the round. */
  trained: number;
  accepted: number;
  refused: number;
  late: number;
  meanProveSeconds: number;
  /** Devices dropped in the round by the churn plan. */
  dropped: number;
}

export interface RunFleetReturnType {
  shard: FleetShard;
  devices: number;
  completed: number;
  offlineAtEnd: number;
  errors: number;
  /** Seconds from the first device starting to the last one's first Join. */
  enrolSeconds: number;
  firstJoinsPerSecond: number;
  /** Successful Joins, rejoins after churn included. */
  joins: number;
  drops: number;
  rounds: FleetRound[];
  /** Resident set of this process: before the devices started, with every device joined, peak. */
  memory: { baselineMB: number; joinedMB: number; peakMB: number; perDeviceKB: number };
  proofs: boolean;
  results: FleetDeviceResult[];
  seconds: number;
}

const DEFAULT_JOINS_PER_SECOND = 40;
const DEFAULT_ENROL_CONCURRENCY = 8;
const DEFAULT_RECORDS_PER_DEVICE = 20;
const SYNTHETIC_POOL_MIN = 4000;

const mb = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;

/** The partitions of a fleet: one shared pool, split as `fedproof client --simulate` splits it. */
export async function fleetPartitions(
  parameters: Pick<
    RunFleetParameters,
    "dataset" | "partition" | "devices" | "seed" | "recordsPerDevice"
  >,
): Promise<{ pool: Dataset; parts: number[][] }> {
  const perDevice = parameters.recordsPerDevice ?? DEFAULT_RECORDS_PER_DEVICE;
  const pool = await loadTrainingPool(
    parameters.dataset,
    parameters.seed,
    parameters.dataset === "synthetic"
      ? Math.max(SYNTHETIC_POOL_MIN, parameters.devices * perDevice)
      : undefined,
  );
  const parts = partition({
    spec: parsePartition(parameters.partition),
    labels: pool.y,
    classes: pool.schema.classes,
    clients: parameters.devices,
    seed: parameters.seed,
  });
  return { pool, parts };
}

/** Fleet device `index`'s id: `sim-0042` in a fleet of a thousand. */
export function fleetDeviceId(index: number, devices: number, prefix = "sim-"): string {
  const width = Math.max(3, String(Math.max(0, devices - 1)).length);
  return `${prefix}${String(index).padStart(width, "0")}`;
}

/**
 * Runs this shard's devices until the job ends: starts them at the fleet's join rate, drops
 * the churn plan's devices each round (on a `round-started` event), and reports every device
 * and the process's memory.
 */
export async function runFleet(parameters: RunFleetParameters): Promise<RunFleetReturnType> {
  const started = performance.now();
  const shard = parameters.shard ?? { index: 0, count: 1 };
  if (!(shard.count >= 1 && shard.index >= 0 && shard.index < shard.count)) {
    throw new InvalidArgumentError(`shard ${shard.index}/${shard.count} does not exist`);
  }
  const { logger } = parameters;
  const log = parameters.onProgress ?? ((line: string) => logger.info(line));
  const deviceLogger = parameters.deviceLogger ?? logger.child({}, { level: "error" });
  const rate = parameters.joinsPerSecond ?? DEFAULT_JOINS_PER_SECOND;

  const { pool, parts } = await fleetPartitions(parameters);
  const mine: number[] = [];
  for (let i = shard.index; i < parameters.devices; i += shard.count) mine.push(i);

  const control = createFedproofClients(parameters.address, parameters.credentials);
  const channels = new SharedChannels(parameters.credentials);
  let provers: SharedProvers | undefined;
  const timers = new Set<NodeJS.Timeout>();
  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 500);
  try {
    const setup = await unary<ProofSetup__Output>((cb) =>
      control.coordinator.getProofSetup({ jobId: parameters.jobId }, cb),
    );
    if (requiresProofs(setup)) provers = await startSharedProvers(control.coordinator, setup);
    const baselineRss = process.memoryUsage().rss;

    const links = new Map<number, VirtualLink>();
    for (const index of mine) links.set(index, new VirtualLink());
    const dropped = new Map<number, number>();
    const watcher = watchRounds(control.jobs.watchJob({ jobId: parameters.jobId }), (round) => {
      if (!parameters.churn || parameters.churn.fraction <= 0) return;
      const plan = churnPlan({
        churn: parameters.churn,
        devices: parameters.devices,
        seed: parameters.seed,
        round,
      }).filter((event) => links.has(event.device));
      dropped.set(round, plan.length);
      for (const event of plan) {
        const timer = setTimeout(() => {
          timers.delete(timer);
          links.get(event.device)!.drop(event.offlineMs);
        }, event.atMs);
        timers.add(timer);
      }
    });
    watcher.ended.catch(() => {});

    let joinedRss: number | undefined;
    const allJoined = () => [...links.values()].every((link) => link.firstJoinAtMs !== undefined);
    const progress = setInterval(() => {
      const joined = [...links.values()].filter((l) => l.firstJoinAtMs !== undefined).length;
      if (joined < mine.length)
        log(`fleet ${shard.index}/${shard.count}: ${joined}/${mine.length} devices joined`);
      else if (joinedRss === undefined) joinedRss = process.memoryUsage().rss;
    }, 2_000);
    timers.add(progress as unknown as NodeJS.Timeout);

    const enrolling = new Slots(parameters.enrolConcurrency ?? DEFAULT_ENROL_CONCURRENCY);
    const runs = mine.map(async (index): Promise<FleetDeviceResult> => {
      // Device i starts at i/rate at the earliest: the shards' starts interleave into the
      // fleet's rate.
      if (rate > 0) await sleep((index / rate) * 1000, timers);
      const link = links.get(index)!;
      const release = await enrolling.acquire();
      link.onFirstJoin = release;
      const deviceId = fleetDeviceId(index, parameters.devices, parameters.deviceIdPrefix);
      const byzantine = parameters.byzantine && index < parameters.byzantine.count;
      const device = new Device({
        address: parameters.address,
        credentials: parameters.credentials,
        jobId: parameters.jobId,
        deviceId,
        data: subset(pool, parts[index]!),
        seed: parameters.seed * 1000 + index,
        backend: parameters.backend,
        logger: deviceLogger,
        connect: (address) => channels.clientsFor(address, link),
        provers,
        tamper: byzantine
          ? (delta, clipNorm) =>
              applyAttack(delta, parameters.byzantine!.attack, {
                clipNorm,
                rng: createRng(parameters.seed * 7919 + index),
              })
          : undefined,
      });
      let run: DeviceRunReturnType | undefined;
      let error: unknown;
      try {
        run = await device.run();
      } catch (caught) {
        error = caught;
      } finally {
        release();
      }
      if (joinedRss === undefined && allJoined()) joinedRss = process.memoryUsage().rss;
      const ended = error ? jobEndedWhileOffline(error, link) : undefined;
      return {
        index,
        deviceId,
        outcome: run ? "completed" : ended ? "offline-at-end" : "error",
        ...(error ? { error: errorMessage(error) } : {}),
        jobState: run?.jobState ?? ended ?? "",
        joins: link.joins,
        drops: link.drops,
        rounds: run?.rounds ?? [],
      };
    });
    const results = await Promise.all(runs);
    watcher.cancel();
    joinedRss ??= process.memoryUsage().rss;

    const joinTimes = [...links.values()]
      .map((link) => link.firstJoinAtMs)
      .filter((at): at is number => at !== undefined);
    const enrolSeconds = joinTimes.length > 0 ? (Math.max(...joinTimes) - started) / 1000 : 0;
    return {
      shard,
      devices: mine.length,
      completed: results.filter((r) => r.outcome === "completed").length,
      offlineAtEnd: results.filter((r) => r.outcome === "offline-at-end").length,
      errors: results.filter((r) => r.outcome === "error").length,
      enrolSeconds,
      firstJoinsPerSecond: enrolSeconds > 0 ? joinTimes.length / enrolSeconds : 0,
      joins: results.reduce((sum, r) => sum + r.joins, 0),
      drops: results.reduce((sum, r) => sum + r.drops, 0),
      rounds: summariseRounds(results, dropped),
      memory: {
        baselineMB: mb(baselineRss),
        joinedMB: mb(joinedRss),
        peakMB: mb(Math.max(peakRss, process.memoryUsage().rss)),
        perDeviceKB: Math.round(Math.max(0, joinedRss - baselineRss) / mine.length / 1024),
      },
      proofs: Boolean(provers),
      results,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    clearInterval(sampler);
    for (const timer of timers) clearTimeout(timer);
    await provers?.close();
    channels.close();
    control.close();
  }
}

/** Per round, what this fleet's devices did, from their own reports. */
export function summariseRounds(
  results: readonly FleetDeviceResult[],
  dropped: ReadonlyMap<number, number> = new Map(),
): FleetRound[] {
  const rounds = new Map<number, FleetRound>();
  const proveSums = new Map<number, number>();
  for (const result of results) {
    for (const report of result.rounds) {
      let row = rounds.get(report.round);
      if (!row) {
        row = {
          round: report.round,
          trained: 0,
          accepted: 0,
          refused: 0,
          late: 0,
          meanProveSeconds: 0,
          dropped: dropped.get(report.round) ?? 0,
        };
        rounds.set(report.round, row);
      }
      row.trained++;
      if (report.accepted === true) row.accepted++;
      else if (report.late) row.late++;
      else if (report.accepted === false) row.refused++;
      proveSums.set(report.round, (proveSums.get(report.round) ?? 0) + report.proveSeconds);
    }
  }
  return [...rounds.values()]
    .sort((a, b) => a.round - b.round)
    .map((row) => ({ ...row, meanProveSeconds: (proveSums.get(row.round) ?? 0) / row.trained }));
}

/** Follows the job's events, calling `onRoundStarted` per round; `ended` settles with the stream. */
function watchRounds(
  stream: grpc.ClientReadableStream<JobEvent__Output>,
  onRoundStarted: (round: number) => void,
): { ended: Promise<void>; cancel(): void } {
  const ended = new Promise<void>((resolve, reject) => {
    stream.on("data", (event: JobEvent__Output) => {
      if (event.type === "round-started") onRoundStarted(event.round);
    });
    stream.on("end", () => resolve());
    stream.on("error", (error: grpc.ServiceError) =>
      error.code === 1 /* CANCELLED: we hung up */ ? resolve() : reject(error),
    );
  });
  return { ended, cancel: () => stream.cancel() };
}

/** A counting semaphore; each release function frees its slot once, however often called. */
class Slots {
  private free: number;
  private readonly waiting: (() => void)[] = [];

  constructor(size: number) {
    this.free = Math.max(1, size);
  }

  async acquire(): Promise<() => void> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    };
  }
}

function sleep(ms: number, timers: Set<NodeJS.Timeout>): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      resolve();
    }, ms);
    timers.add(timer);
  });
}

/**
 * A dropped device that rejoins after the job's last round finds the job over (the end was
 * sent to the devices online then): FAILED_PRECONDITION, "job … is COMPLETED: …". Returns the
 * job's state for such a device.
 */
function jobEndedWhileOffline(error: unknown, link: VirtualLink): string | undefined {
  if (link.drops === 0 || (error as Partial<grpc.ServiceError>).code !== 9) return undefined;
  const state = / is (COMPLETED|FAILED|CANCELLED): /.exec(errorMessage(error))?.[1];
  return state ? `JOB_STATE_${state}` : undefined;
}

function errorMessage(error: unknown): string {
  const details = (error as Partial<grpc.ServiceError>).details;
  return details || (error instanceof Error ? error.message : String(error));
}
