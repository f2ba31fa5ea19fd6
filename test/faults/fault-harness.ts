import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Redis } from "ioredis";
import { expect } from "vitest";
import { freePort } from "../../cli/demo/private-redis.js";
import { specToMessage } from "../../coordinator/jobs/job-messages.js";
import { ArtifactStore } from "../../coordinator/store/artifact-store.js";
import { JobStore } from "../../coordinator/store/job-store.js";
import { bearer, createFedproofClients, unary } from "../../proto/clients.js";
import type { JobInfo__Output } from "../../proto/generated/fedproof/v1/JobInfo.js";
import { aggregationWeight } from "../../protocol/job/aggregation-weight.js";
import type { JobSpecInput } from "../../protocol/job/job-spec.js";
import { decodeModel } from "../../protocol/model/weights.js";
import { decodeUpdate } from "../../protocol/update/quantize.js";
import { type CliProcess, spawnCli } from "../harness/cli-process.js";

/**
 * Multi-process fault scenarios: a private redis-server with the append-only file (fsync on
 * every write, so a SIGKILL loses nothing acknowledged), coordinators, workers and devices as
 * `fedproof` processes, all on loopback, all stopped by pid at the end.
 */
export class FaultCluster {
  readonly processes: CliProcess[] = [];
  redis?: PrivateAofRedis;
  storeDir = "";
  readonly prefix = "faults";
  readonly token = "fault-token";
  private tmp = "";

  async start(): Promise<void> {
    this.tmp = await mkdtemp(path.join(os.tmpdir(), "fedproof-faults-"));
    this.storeDir = path.join(this.tmp, "store");
    this.redis = await startAofRedis(path.join(this.tmp, "redis"));
  }

  get redisUrl(): string {
    return this.redis!.url;
  }

  /** A coordinator on `port` (default: a free one); with `workers: false` it runs none. */
  async coordinator(
    options: { port?: number; workers?: boolean; env?: Record<string, string> } = {},
  ): Promise<CliProcess & { address: string }> {
    const port = options.port ?? (await freePort());
    const process_ = this.spawn(
      [
        "coordinator",
        "--host",
        "127.0.0.1",
        "--port",
        String(port),
        "--redis-url",
        this.redisUrl,
        "--prefix",
        this.prefix,
        "--store",
        this.storeDir,
        "--json",
        "--log-level",
        "info",
        ...(options.workers === false ? ["--no-workers"] : []),
      ],
      { FEDPROOF_TOKEN: this.token, ...options.env },
    );
    await process_.waitForStderr(/coordinator listening/, 60_000);
    return Object.assign(process_, { address: `127.0.0.1:${port}` });
  }

  /** A `fedproof worker` whose dead jobs are taken over within about two seconds. */
  async worker(queues: string, env: Record<string, string> = {}): Promise<CliProcess> {
    const process_ = this.spawn(
      [
        "worker",
        "--redis-url",
        this.redisUrl,
        "--prefix",
        this.prefix,
        "--store",
        this.storeDir,
        "--queues",
        queues,
        "--lock-duration",
        "2000",
        "--stalled-interval",
        "1000",
        "--log-level",
        "info",
      ],
      env,
    );
    await process_.waitForStderr(/workers started/, 60_000);
    return process_;
  }

  /** Created over gRPC from the test process, as `fedproof job create` does (one process less). */
  async createJob(address: string, spec: Partial<JobSpecInput>): Promise<string> {
    const clients = createFedproofClients(address);
    try {
      const created = await unary<JobInfo__Output>((callback) =>
        clients.jobs.createJob(
          {
            spec: specToMessage({
              model: "logreg",
              schema: { featureShape: [16], min: 0, max: 1, classes: 4 },
              overSelection: 1,
              ...spec,
            }),
          },
          bearer(this.token),
          callback,
        ),
      );
      return created.jobId;
    } finally {
      clients.close();
    }
  }

  /** `fedproof client` with a stable id and key, so a replacement is the same device. */
  device(
    addresses: string[],
    jobId: string,
    index: number,
    clients: number,
    options: { extra?: string[]; env?: Record<string, string> } = {},
  ): CliProcess {
    return this.spawn(
      [
        "client",
        "--coordinator",
        addresses.join(","),
        "--job",
        jobId,
        "--device-id",
        `device-${index}`,
        "--key-file",
        path.join(this.tmp, `device-${index}.key`),
        "--simulate",
        "synthetic",
        "--clients",
        String(clients),
        "--index",
        String(index),
        "--model",
        "logreg",
        "--backend",
        "cpu",
        "--log-level",
        "info",
        "--json",
        ...(options.extra ?? []),
      ],
      options.env,
    );
  }

  spawn(args: string[], env: Record<string, string> = {}): CliProcess {
    const process_ = spawnCli(args, env);
    this.processes.push(process_);
    return process_;
  }

  async store<T>(use: (store: JobStore, artifacts: ArtifactStore) => Promise<T>): Promise<T> {
    const redis = new Redis(this.redisUrl, { maxRetriesPerRequest: 3 });
    try {
      return await use(
        new JobStore({ redis, prefix: this.prefix }),
        new ArtifactStore({ root: this.storeDir }),
      );
    } finally {
      redis.disconnect();
    }
  }

  /** Polls until the job is in a final state (or `timeoutMs` passes); returns that state. */
  async waitForJobEnd(jobId: string, timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const state = await this.store(async (store) => (await store.findJob(jobId))?.state).catch(
        () => undefined,
      );
      if (state === "COMPLETED" || state === "FAILED" || state === "CANCELLED") return state;
      if (Date.now() > deadline) return String(state);
      await sleep(250);
    }
  }

  /** Every process still running is killed (SIGKILL, by pid), Redis stopped, files removed. */
  async dispose(): Promise<void> {
    // FEDPROOF_FAULT_LOGS=file keeps every process's logs, to see what a failed scenario did.
    const keep = process.env.FEDPROOF_FAULT_LOGS;
    if (keep) await writeFile(keep, this.logs(Infinity));
    await Promise.all(this.processes.map((p) => kill(p.child, "SIGKILL")));
    await this.redis?.stop();
    if (this.tmp) await rm(this.tmp, { recursive: true, force: true });
  }

  /** Logs of every process, for a failing assertion's message. */
  logs(limit = 20_000): string {
    return this.processes
      .map(
        (p) =>
          `--- ${p.child.spawnargs.slice(2, 3).join(" ")} ${p.child.pid}\n${p.stderr()}${p.stdout()}`,
      )
      .join("\n")
      .slice(-limit);
  }
}

/**
 * What every scenario checks once the job is over: it completed; every round completed with
 * exactly its accepted updates recorded; and each round's model is the FedAvg of those updates
 * on the round's global model, so no accepted update is missing from (or extra in) a model.
 */
export async function expectJobIntact(cluster: FaultCluster, jobId: string): Promise<void> {
  await cluster.store(async (store, artifacts) => {
    const job = await store.getJob(jobId);
    expect(job.state, `${job.reason}\n${cluster.logs()}`).toBe("COMPLETED");
    expect(job.currentRound).toBe(job.spec.rounds);
    let model = job.initialModelHash;
    for (let r = 1; r <= job.spec.rounds; r++) {
      const round = await store.getRound(jobId, r);
      expect(["COMPLETED", "ANCHORED"]).toContain(round.state);
      expect(round.globalModelHash).toBe(model);
      const contributions = await store.contributions(jobId, r);
      expect(contributions.length, `round ${r}`).toBe(round.accepted);
      expect(round.accepted).toBeGreaterThanOrEqual(round.minClients);
      const n = job.paramCount;
      const global = decodeModel(await artifacts.get(round.globalModelHash), n);
      const next = decodeModel(await artifacts.get(round.modelHash), n);
      const weights = contributions.map((c) => aggregationWeight(c.samples, job.spec));
      const total = weights.reduce((a, b) => a + b, 0);
      const expected = Float64Array.from(global);
      for (const [i, contribution] of contributions.entries()) {
        const q = decodeUpdate(await artifacts.get(contribution.updateHash), contribution.bits, n);
        for (let j = 0; j < n; j++)
          expected[j]! += (weights[i]! / total) * q[j]! * job.spec.quantization.scale!;
      }
      for (let j = 0; j < n; j++) expect(next[j]).toBeCloseTo(expected[j]!, 4);
      model = round.modelHash;
    }
    expect(job.currentModelHash).toBe(model);
  });
}

export interface PrivateAofRedis {
  url: string;
  /** SIGKILLs the server (as a crash would). */
  kill(): Promise<void>;
  /** Starts it again on the same port and directory: it reloads the append-only file. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

async function startAofRedis(dir: string): Promise<PrivateAofRedis> {
  const port = await freePort();
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  const launch = async () => {
    child = spawn(
      "redis-server",
      [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--dir",
        dir,
      ],
      { stdio: "ignore" },
    );
    const deadline = Date.now() + 10_000;
    for (;;) {
      const probe = new Redis(url, {
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
      });
      probe.on("error", () => {});
      try {
        await probe.connect();
        // Loading the append-only file answers LOADING until done.
        if ((await probe.ping()) === "PONG") return;
      } catch {
        if (Date.now() > deadline) throw new Error(`redis-server did not start on ${url}`);
        await sleep(50);
      } finally {
        probe.disconnect();
      }
    }
  };
  await launch();
  return {
    url,
    kill: async () => {
      if (child) await kill(child, "SIGKILL");
    },
    restart: launch,
    stop: async () => {
      if (child) await kill(child, "SIGKILL");
    },
  };
}

export async function kill(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill(signal);
  await exited;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves once `check` is true, polling; rejects after `timeoutMs` with `what`. */
export async function until(
  check: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}
