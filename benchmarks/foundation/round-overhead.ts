import { Redis } from "ioredis";
import { readModelStream } from "../../client/node/coordinator-client.js";
import { FedproofError } from "../../common/errors.js";
import type { RoundTask__Output } from "../../proto/generated/fedproof/v1/RoundTask.js";
import { createRng } from "../../protocol/random.js";
import { encodeUpdate } from "../../protocol/update/quantize.js";
import { startTestCoordinator } from "../../test/harness/coordinator.js";
import { joinRawDevice } from "../../test/harness/raw-device.js";
import { TEST_REDIS_URL } from "../../test/harness/redis.js";
import { median } from "../harness.js";

export interface MeasureRoundOverheadParameters {
  devices: number;
  rounds: number;
  /** Quantised values of every upload are drawn uniformly from ±maxValue (well inside the clip bound). */
  maxValue?: number;
  seed?: number;
  onProgress?: (line: string) => void;
}

/** Seconds measured from the first device receiving the round's task. */
export interface RoundOverheadRow {
  round: number;
  /** The last device has its task. */
  tasksDelivered: number;
  /** The last device has its model downloaded (hash checked). */
  modelsDownloaded: number;
  /** The last upload was acknowledged (stored and queued for verification). */
  uploadsAcknowledged: number;
  /** Enough updates verified; the round left OPEN for AGGREGATING. */
  closed: number;
  /** The new model is stored and the round COMPLETED: the overhead of this round. */
  completed: number;
  /** From COMPLETED until the first device holds the next round's task (last round: none). */
  nextRoundStarts: number | null;
}

export interface MeasureRoundOverheadReturnType {
  devices: number;
  rounds: RoundOverheadRow[];
  paramCount: number;
  modelBytes: number;
  updateBytes: number;
  /** Median of `completed` over the rounds. */
  medianSeconds: number;
  redisUrl: string;
}

/** A round overhead benchmark whose devices or coordinator misbehaved. */
export class RoundOverheadBenchmarkError extends FedproofError {
  override name = "RoundOverheadBenchmarkError";
}

const SCHEMA = { featureShape: [28, 28, 1], min: 0, max: 1, classes: 10 };

/**
 * What the coordinator costs per round when local training costs nothing: a real
 * coordinator (gRPC, Redis, BullMQ verify and aggregate workers) and `devices` devices in
 * this process on the real gRPC API. On each task a device downloads the global model as a
 * real device would, then at once uploads a precomputed valid update. The clock starts when
 * the first device receives the task and stops when the round is COMPLETED, so what is
 * left is fan-out, model download, upload, verification, aggregation and storage.
 */
export async function measureRoundOverhead(
  p: MeasureRoundOverheadParameters,
): Promise<MeasureRoundOverheadReturnType> {
  const log = p.onProgress ?? (() => {});
  // All devices join at once: the per-job Join rate limit would measure itself, not rounds.
  const coordinator = await startTestCoordinator("bench-round-overhead", { joinsPerSecond: 0 });
  const events = new Redis(TEST_REDIS_URL);
  const devices: Awaited<ReturnType<typeof joinRawDevice>>[] = [];
  try {
    const job = await coordinator.jobs.createJob({
      name: "bench-round-overhead",
      model: "mlp",
      schema: SCHEMA,
      rounds: p.rounds,
      clientsPerRound: p.devices,
      minClients: p.devices,
      overSelection: 1,
      roundDeadlineSeconds: 600,
    });
    const paramCount = job.paramCount;
    const bits = job.spec.quantization.bits;
    const rng = createRng(p.seed ?? 1);
    const maxValue = p.maxValue ?? 20;
    // One distinct upload per device: identical bytes would share one content-addressed blob.
    const uploads = Array.from({ length: p.devices }, () => {
      const q = new Int32Array(paramCount);
      for (let i = 0; i < paramCount; i++) q[i] = rng.int(2 * maxValue + 1) - maxValue;
      return encodeUpdate(q, bits);
    });

    // Round milestones as the round engine publishes them, read off Redis directly so that
    // watching costs the coordinator nothing.
    const milestones = new Map<string, number>();
    let jobEnded: (reason: string) => void = () => {};
    const ended = new Promise<string>((resolve) => {
      jobEnded = resolve;
    });
    events.on("message", (_channel: string, message: string) => {
      const event = JSON.parse(message) as { type: string; round: number; message: string };
      milestones.set(`${event.type}:${event.round}`, performance.now());
      if (event.type.startsWith("job-") || event.type === "round-failed") {
        jobEnded(`${event.type}: ${event.message}`);
      }
    });
    await events.subscribe(coordinator.store.keys.jobEvents(job.jobId));

    const firstTask = new Map<number, number>();
    const lastTask = new Map<number, number>();
    const lastDownload = new Map<number, number>();
    const lastUpload = new Map<number, number>();
    const stamp = (map: Map<number, number>, round: number, pick: typeof Math.min) => {
      const now = performance.now();
      map.set(round, map.has(round) ? pick(map.get(round)!, now) : now);
    };

    let modelBytes = 0;
    log(`round overhead: ${p.devices} devices joining job ${job.jobId} (${paramCount} parameters)`);
    devices.push(
      ...(await Promise.all(
        uploads.map((_, index) =>
          joinRawDevice(coordinator.address, job.jobId, `bench-${String(index).padStart(3, "0")}`),
        ),
      )),
    );
    const work = devices.map(async (device, index) => {
      for (let round = 1; round <= p.rounds; round++) {
        const task = await taskForRound(device, round);
        stamp(firstTask, round, Math.min);
        stamp(lastTask, round, Math.max);
        const model = await readModelStream(
          device.clients.coordinator.getModel({ modelHash: task.globalModelHash }),
          task.globalModelHash,
        );
        stamp(lastDownload, round, Math.max);
        modelBytes = model.bytes.byteLength;
        await device.submit(
          {
            jobId: job.jobId,
            round,
            globalModelHash: task.globalModelHash,
            samples: 100,
            bits,
            paramCount: task.paramCount,
          },
          uploads[index]!,
        );
        stamp(lastUpload, round, Math.max);
      }
    });
    const failure = ended.then((reason) => {
      if (!reason.startsWith("job-completed")) {
        throw new RoundOverheadBenchmarkError(`the benchmark job did not complete: ${reason}`);
      }
    });
    // A failed round leaves devices waiting for tasks that never come: stop at once.
    await Promise.race([Promise.all(work), failure]);
    await failure;

    const rows: RoundOverheadRow[] = [];
    for (let round = 1; round <= p.rounds; round++) {
      const start = firstTask.get(round)!;
      const since = (at: number | undefined) =>
        at === undefined ? Number.NaN : (at - start) / 1000;
      const completedAt = milestones.get(`round-completed:${round}`);
      const nextStart = firstTask.get(round + 1);
      rows.push({
        round,
        tasksDelivered: since(lastTask.get(round)),
        modelsDownloaded: since(lastDownload.get(round)),
        uploadsAcknowledged: since(lastUpload.get(round)),
        closed: since(milestones.get(`round-closed:${round}`)),
        completed: since(completedAt),
        nextRoundStarts:
          nextStart === undefined || completedAt === undefined
            ? null
            : (nextStart - completedAt) / 1000,
      });
      log(
        `round overhead: round ${round} completed ${since(completedAt).toFixed(2)} s after its first task`,
      );
    }
    return {
      devices: p.devices,
      rounds: rows,
      paramCount,
      modelBytes,
      updateBytes: uploads[0]!.byteLength,
      medianSeconds: median(rows.map((row) => row.completed)),
      redisUrl: TEST_REDIS_URL,
    };
  } finally {
    for (const device of devices) device.close();
    events.disconnect();
    await coordinator.dispose();
  }
}

async function taskForRound(
  device: Awaited<ReturnType<typeof joinRawDevice>>,
  round: number,
): Promise<RoundTask__Output> {
  for (;;) {
    const { task } = await device.next("task", 600_000);
    if (task?.round === round) return task;
  }
}
