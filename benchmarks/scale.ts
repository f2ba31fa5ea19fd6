/**
 * How the coordinator scales with the number of devices, on this machine, over loopback:
 *
 * - coordinator overhead per round with raw devices that answer at once (no training), every
 *   device selected, at 100 and 1,000 devices: fan-out, download, upload, verification,
 *   aggregation and storage (benchmarks/foundation/round-overhead.ts's clock);
 * - Joins per second (signed Joins of raw devices, the Join rate limit off);
 * - updates verified per second by one verify worker (its `contribution` events);
 * - memory per virtual device (client/node/simulation: a fleet in this process);
 * - round time of a 1,000-device virtual fleet, 100 per round, without and with 30 % churn.
 *
 * Needs Redis at REDIS_URL (default redis://127.0.0.1:6379). `--quick`: 100 and 300 devices.
 * Run: `npx tsx benchmarks/scale.ts`.
 */
import { Redis } from "ioredis";
import { selectBackend } from "../client/node/backend.js";
import { readModelStream } from "../client/node/coordinator-client.js";
import { type RunFleetReturnType, runFleet } from "../client/node/simulation/fleet.js";
import { FedproofError } from "../common/errors.js";
import type { RoundTask__Output } from "../proto/generated/fedproof/v1/RoundTask.js";
import type { ModelPreset } from "../protocol/model/presets.js";
import { createRng } from "../protocol/random.js";
import { encodeUpdate } from "../protocol/update/quantize.js";
import { startTestCoordinator, testLogger } from "../test/harness/coordinator.js";
import { joinRawDevice } from "../test/harness/raw-device.js";
import { TEST_REDIS_URL } from "../test/harness/redis.js";
import { isQuick, median, type ResultTable, resultsName, round, writeResults } from "./harness.js";

class ScaleBenchmarkError extends FedproofError {
  override name = "ScaleBenchmarkError";
}

type RawDevice = Awaited<ReturnType<typeof joinRawDevice>>;

interface OverheadRow {
  round: number;
  tasksDelivered: number;
  modelsDownloaded: number;
  uploadsAcknowledged: number;
  closed: number;
  completed: number;
  /** Verified updates per second: `contribution` events, first to last. */
  verifiedPerSecond: number;
  /**
   * CPU seconds (user + system, every thread) the process spent from the round's first task
   * to its completion: devices, coordinator and workers together. Unlike the wall clock, it
   * barely moves with other work on the machine.
   */
  cpuSeconds: number;
}

interface OverheadResult {
  devices: number;
  model: ModelPreset;
  paramCount: number;
  joinSeconds: number;
  joinsPerSecond: number;
  rounds: OverheadRow[];
  medianSeconds: number;
  medianCpuSeconds: number;
  medianVerifiedPerSecond: number;
}

const SCHEMA = { featureShape: [28, 28, 1], min: 0, max: 1, classes: 10 };
/**
 * Raw devices joining at once, at most: each Join must come within its challenge's 60 s, which
 * a thousand signatures queued on a loaded machine's two cores did not.
 */
const JOINS_IN_FLIGHT = 64;
const quick = isQuick();
const log = (line: string) => process.stderr.write(`${line}\n`);

/**
 * Raw devices, all selected, each downloading the model and uploading a precomputed valid
 * update at once; the clock runs from the first device holding the round's task.
 */
async function measureOverhead(
  devices: number,
  model: ModelPreset,
  rounds: number,
): Promise<OverheadResult> {
  // The Join rate limit would measure itself: off, so the Joins/s figure is the coordinator's.
  const coordinator = await startTestCoordinator("bench-scale", { joinsPerSecond: 0 });
  const events = new Redis(TEST_REDIS_URL);
  const raw: RawDevice[] = [];
  try {
    const job = await coordinator.jobs.createJob({
      name: "bench-scale",
      model,
      schema: SCHEMA,
      rounds,
      clientsPerRound: devices,
      minClients: devices,
      minAvailableClients: devices,
      overSelection: 1,
      roundDeadlineSeconds: 600,
      enrolmentTimeoutSeconds: 600,
    });
    const bits = job.spec.quantization.bits;
    const rng = createRng(1);
    // One distinct upload per device: identical bytes would share one content-addressed blob.
    const uploads = Array.from({ length: devices }, () => {
      const q = new Int32Array(job.paramCount);
      for (let i = 0; i < job.paramCount; i++) q[i] = rng.int(41) - 20;
      return encodeUpdate(q, bits);
    });
    const milestones = new Map<string, number>();
    const verifiedAt = new Map<number, number[]>();
    let jobEnded: (reason: string) => void = () => {};
    const ended = new Promise<string>((resolve) => {
      jobEnded = resolve;
    });
    events.on("message", (_channel: string, message: string) => {
      const event = JSON.parse(message) as { type: string; round: number; message: string };
      const now = performance.now();
      milestones.set(`${event.type}:${event.round}`, now);
      if (event.type === "round-completed") cpuAtCompleted.set(event.round, cpuSecondsNow());
      if (event.type === "contribution") {
        const list = verifiedAt.get(event.round) ?? [];
        list.push(now);
        verifiedAt.set(event.round, list);
      }
      if (event.type.startsWith("job-") || event.type === "round-failed") {
        jobEnded(`${event.type}: ${event.message}`);
      }
    });
    await events.subscribe(coordinator.store.keys.jobEvents(job.jobId));

    log(`scale: ${devices} raw devices joining (${model}, ${job.paramCount} parameters)`);
    const joinStarted = performance.now();
    let nextJoin = 0;
    const joiners = Array.from({ length: Math.min(JOINS_IN_FLIGHT, devices) }, async () => {
      while (nextJoin < devices) {
        const i = nextJoin++;
        raw[i] = await joinRawDevice(coordinator.address, job.jobId, `raw-${i}`);
      }
    });
    await Promise.all(joiners);
    const joinSeconds = (performance.now() - joinStarted) / 1000;

    const firstTask = new Map<number, number>();
    const cpuAtFirstTask = new Map<number, number>();
    const cpuAtCompleted = new Map<number, number>();
    const last = { task: new Map<number, number>(), download: new Map(), upload: new Map() };
    const stamp = (map: Map<number, number>, r: number, pick: typeof Math.min) => {
      const now = performance.now();
      map.set(r, map.has(r) ? pick(map.get(r)!, now) : now);
    };
    const work = raw.map(async (device, index) => {
      for (let r = 1; r <= rounds; r++) {
        const task = await taskForRound(device, r);
        if (!cpuAtFirstTask.has(r)) cpuAtFirstTask.set(r, cpuSecondsNow());
        stamp(firstTask, r, Math.min);
        stamp(last.task, r, Math.max);
        await readModelStream(
          device.clients.coordinator.getModel({ modelHash: task.globalModelHash }),
          task.globalModelHash,
        );
        stamp(last.download, r, Math.max);
        await device.submit(
          {
            jobId: job.jobId,
            round: r,
            globalModelHash: task.globalModelHash,
            samples: 100,
            bits,
            paramCount: task.paramCount,
          },
          uploads[index]!,
        );
        stamp(last.upload, r, Math.max);
      }
    });
    const failure = ended.then((reason) => {
      if (!reason.startsWith("job-completed"))
        throw new ScaleBenchmarkError(`the benchmark job did not complete: ${reason}`);
    });
    await Promise.race([Promise.all(work), failure]);
    await failure;

    const rows: OverheadRow[] = [];
    for (let r = 1; r <= rounds; r++) {
      const start = firstTask.get(r)!;
      const since = (at: number | undefined) =>
        at === undefined ? Number.NaN : (at - start) / 1000;
      const verified = verifiedAt.get(r) ?? [];
      const span = verified.length > 1 ? (verified.at(-1)! - verified[0]!) / 1000 : Number.NaN;
      rows.push({
        round: r,
        tasksDelivered: since(last.task.get(r)),
        modelsDownloaded: since(last.download.get(r)),
        uploadsAcknowledged: since(last.upload.get(r)),
        closed: since(milestones.get(`round-closed:${r}`)),
        completed: since(milestones.get(`round-completed:${r}`)),
        verifiedPerSecond: (verified.length - 1) / span,
        cpuSeconds: (cpuAtCompleted.get(r) ?? Number.NaN) - cpuAtFirstTask.get(r)!,
      });
      log(
        `scale: ${devices} devices, round ${r} completed in ${rows.at(-1)!.completed.toFixed(2)} s`,
      );
    }
    return {
      devices,
      model,
      paramCount: job.paramCount,
      joinSeconds,
      joinsPerSecond: devices / joinSeconds,
      rounds: rows,
      medianSeconds: median(rows.map((row) => row.completed)),
      medianCpuSeconds: median(rows.map((row) => row.cpuSeconds)),
      // A round with fewer than two `contribution` events seen has no rate.
      medianVerifiedPerSecond: median(
        rows.map((row) => row.verifiedPerSecond).filter((rate) => Number.isFinite(rate)),
      ),
    };
  } finally {
    for (const device of raw) device?.close();
    events.disconnect();
    await coordinator.dispose();
  }
}

function cpuSecondsNow(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

async function taskForRound(device: RawDevice, r: number): Promise<RoundTask__Output> {
  for (;;) {
    const { task } = await device.next("task", 600_000);
    if (task?.round === r) return task;
  }
}

interface FleetRun {
  churn: number;
  devices: number;
  clientsPerRound: number;
  fleet: RunFleetReturnType;
  roundSeconds: number[];
  medianRoundSeconds: number;
}

/** A virtual fleet in this process on a logreg job without proofs; rounds timed by the store. */
async function measureFleet(
  devices: number,
  clientsPerRound: number,
  churn: number,
): Promise<FleetRun> {
  const coordinator = await startTestCoordinator("bench-scale-fleet");
  try {
    const rounds = 3;
    const job = await coordinator.jobs.createJob({
      name: "bench-scale-fleet",
      model: "logreg",
      schema: { featureShape: [16], min: 0, max: 1, classes: 4 },
      rounds,
      clientsPerRound,
      minClients: Math.ceil(clientsPerRound * 0.75),
      overSelection: 1.25,
      minAvailableClients: devices,
      roundDeadlineSeconds: 300,
      enrolmentTimeoutSeconds: 600,
      clipNorm: 5,
      training: { learningRate: 0.1, epochs: 1 },
    });
    log(`scale: virtual fleet of ${devices}, ${clientsPerRound} per round, churn ${churn}`);
    const fleet = await runFleet({
      address: coordinator.address,
      jobId: job.jobId,
      devices,
      dataset: "synthetic",
      partition: "iid",
      seed: 5,
      churn: { fraction: churn },
      // Under the coordinator's default limit of 50 Joins per second per job.
      joinsPerSecond: 45,
      logger: testLogger,
      onProgress: log,
    });
    const roundSeconds: number[] = [];
    for (let r = 1; r <= rounds; r++) {
      const record = await coordinator.store.getRound(job.jobId, r);
      if (record.state !== "COMPLETED" && record.state !== "ANCHORED")
        throw new ScaleBenchmarkError(`fleet round ${r} ended ${record.state}: ${record.reason}`);
      roundSeconds.push(record.closedAtMs - record.startedAtMs);
    }
    // Closed → completed is the aggregation: read it off the next round's start when there is one.
    const seconds = roundSeconds.map((ms) => ms / 1000);
    return {
      churn,
      devices,
      clientsPerRound,
      fleet,
      roundSeconds: seconds,
      medianRoundSeconds: median(seconds),
    };
  } finally {
    await coordinator.dispose();
  }
}

await selectBackend({ preferred: "cpu" });
const sizes = quick ? [100, 300] : [100, 1000];
const overhead: OverheadResult[] = [];
for (const devices of sizes) overhead.push(await measureOverhead(devices, "logreg", quick ? 2 : 3));
// The foundation benchmark's configuration (mlp, 800 KB models), for comparison with its 1.71 s.
const mlp100 = await measureOverhead(100, "mlp", quick ? 2 : 3);
const fleetDevices = quick ? 300 : 1000;
const fleetPerRound = quick ? 30 : 100;
const calm = await measureFleet(fleetDevices, fleetPerRound, 0);
const churned = await measureFleet(fleetDevices, fleetPerRound, 0.3);

const at = (devices: number) => overhead.find((o) => o.devices === devices)!;
const big = overhead.at(-1)!;
const summary = {
  [`roundOverheadSeconds${sizes[0]}`]: round(at(sizes[0]!).medianSeconds, 3),
  [`roundOverheadSeconds${big.devices}`]: round(big.medianSeconds, 3),
  [`roundCpuSeconds${big.devices}`]: round(big.medianCpuSeconds, 3),
  roundOverheadUnderOneSecondAt1000: quick ? null : big.medianSeconds < 1,
  roundOverheadSeconds100Mlp: round(mlp100.medianSeconds, 3),
  joinsPerSecond: round(big.joinsPerSecond, 1),
  fleetFirstJoinsPerSecond: round(calm.fleet.firstJoinsPerSecond, 1),
  updatesVerifiedPerSecondPerWorker: round(big.medianVerifiedPerSecond, 1),
  memoryPerVirtualDeviceKB: calm.fleet.memory.perDeviceKB,
  fleetPeakMB: calm.fleet.memory.peakMB,
  [`fleetRoundSeconds${fleetDevices}`]: round(calm.medianRoundSeconds, 2),
  [`fleetRoundSeconds${fleetDevices}Churn30`]: round(churned.medianRoundSeconds, 2),
};

const tables: ResultTable[] = [
  {
    title: "Coordinator overhead per round, raw devices, every device selected, no training",
    columns: [
      "devices",
      "model",
      "parameters",
      "round",
      "tasks delivered",
      "models downloaded",
      "uploads acknowledged",
      "round closed",
      "round completed",
      "verified/s",
      "CPU s",
    ],
    rows: [...overhead, mlp100].flatMap((o) =>
      o.rounds.map((row) => [
        o.devices,
        o.model,
        o.paramCount,
        row.round,
        row.tasksDelivered,
        row.modelsDownloaded,
        row.uploadsAcknowledged,
        row.closed,
        row.completed,
        row.verifiedPerSecond,
        row.cpuSeconds,
      ]),
    ),
    note: "Seconds since the first device received the round's task. Devices, coordinator and its in-process verify (concurrency 4) and aggregate workers share one Node process on the machine's cores; verified/s counts the round's `contribution` events, first to last; CPU s is the process's CPU time (user + system) over the same span, the figure least moved by other work on the machine.",
  },
  {
    title: "Joins",
    columns: ["devices", "seconds", "Joins/s"],
    rows: [...overhead, mlp100].map((o) => [o.devices, o.joinSeconds, o.joinsPerSecond]),
    note: `Raw devices, ${JOINS_IN_FLIGHT} joining at a time (GetJoinChallenge, an EdDSA-Poseidon signed Join, the Tasks stream), the coordinator's Join rate limit off.`,
  },
  {
    title: `Virtual fleet: ${fleetDevices} devices in this process, ${fleetPerRound} per round, logreg, no proofs`,
    columns: [
      "churn",
      "round seconds (start → closed)",
      "median",
      "joins",
      "drops",
      "enrol s",
      "first Joins/s",
      "KB per device",
      "peak MB",
    ],
    rows: [calm, churned].map((run) => [
      run.churn,
      run.roundSeconds.map((s) => s.toFixed(2)).join(", "),
      run.medianRoundSeconds,
      run.fleet.joins,
      run.fleet.drops,
      run.fleet.enrolSeconds,
      run.fleet.firstJoinsPerSecond,
      run.fleet.memory.perDeviceKB,
      run.fleet.memory.peakMB,
    ]),
    note: "Each virtual device is a real Device (own key, signed Join, partition, session, task stream) over one shared channel; the fleet ramps its Joins to 45/s under the default limit of 50. Churn: that fraction of the fleet drops every stream within 2 s of each round's start and rejoins after 1–5 s. KB per device: resident-set growth from before the devices started to all joined, over the devices.",
  },
];

writeResults(
  resultsName("scale"),
  {
    summary,
    overhead,
    mlp100,
    fleet: [calm, churned].map(({ fleet, ...run }) => ({
      ...run,
      fleet: { ...fleet, results: undefined },
    })),
  },
  tables,
);
process.exit(0);
