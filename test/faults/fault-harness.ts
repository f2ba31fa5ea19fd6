import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Redis } from "ioredis";
import {
  type Address,
  createPublicClient,
  createTestClient,
  type Hash,
  type Hex,
  http,
} from "viem";
import { expect } from "vitest";
import { anvilAccounts, anvilMnemonic, resolveAnvilBinary } from "../../cli/demo/anvil.js";
import { chainStatePath } from "../../cli/demo/chain-state-dir.js";
import { freePort } from "../../cli/demo/private-redis.js";
import { createAnchorQueue } from "../../coordinator/chain/anchor-queue.js";
import type { RegistryClient } from "../../coordinator/chain/registry-client.js";
import { storedRoundLeafInputs } from "../../coordinator/chain/stored-round-leaves.js";
import { specToMessage } from "../../coordinator/jobs/job-messages.js";
import { ArtifactStore } from "../../coordinator/store/artifact-store.js";
import { JobStore } from "../../coordinator/store/job-store.js";
import { redisOptionsFromUrl } from "../../coordinator/store/redis.js";
import { bearer, createFedproofClients, unary } from "../../proto/clients.js";
import type { JobInfo__Output } from "../../proto/generated/fedproof/v1/JobInfo.js";
import { aggregationWeight } from "../../protocol/job/aggregation-weight.js";
import type { JobSpecInput } from "../../protocol/job/job-spec.js";
import { decodeModel } from "../../protocol/model/weights.js";
import { buildRoundTree, hashPair } from "../../protocol/provenance/merkle.js";
import { roundLeaves } from "../../protocol/provenance/round-leaves.js";
import { decodeUpdate } from "../../protocol/update/quantize.js";
import { type CliProcess, spawnCli } from "../harness/cli-process.js";
import { deployTestRegistry } from "../harness/deploy-test-registry.js";

/**
 * Multi-process fault scenarios: a private redis-server with the append-only file (fsync on
 * every write, so a SIGKILL loses nothing acknowledged), a private Anvil with the registry
 * deployed and its state kept on disk (as the demo keeps it), coordinators, workers and devices
 * as `fedproof` processes, all on loopback, all stopped by pid at the end. Every job is
 * registered on the chain and every round anchored.
 */
export class FaultCluster {
  readonly processes: CliProcess[] = [];
  redis?: PrivateAofRedis;
  anvil?: PrivateAnvil;
  storeDir = "";
  readonly prefix = "faults";
  readonly token = "fault-token";
  private tmp = "";

  async start(): Promise<void> {
    this.tmp = await mkdtemp(path.join(os.tmpdir(), "fedproof-faults-"));
    this.storeDir = path.join(this.tmp, "store");
    [this.redis, this.anvil] = await Promise.all([
      startAofRedis(path.join(this.tmp, "redis")),
      startPrivateAnvil(path.join(this.tmp, "chain")),
    ]);
  }

  get redisUrl(): string {
    return this.redis!.url;
  }

  /** Flags for the chain; the key goes by environment (`chainEnv`), never on a command line. */
  private get chainArgs(): string[] {
    const anvil = this.anvil!;
    return [
      "--rpc-url",
      anvil.rpcUrl,
      "--chain-id",
      String(anvil.chainId),
      "--registry",
      anvil.registry,
    ];
  }

  private get chainEnv(): Record<string, string> {
    return { FEDPROOF_CHAIN_KEY: this.anvil!.privateKey };
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
        ...this.chainArgs,
        ...(options.workers === false ? ["--no-workers"] : []),
      ],
      { FEDPROOF_TOKEN: this.token, ...this.chainEnv, ...options.env },
    );
    await process_.waitForStderr(/coordinator listening/, 60_000);
    return Object.assign(process_, { address: `127.0.0.1:${port}` });
  }

  /**
   * A `fedproof worker` whose dead jobs are taken over within about two seconds. With the
   * coordinators started `workers: false`, one of them must take the `anchor` queue.
   */
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
        ...this.chainArgs,
      ],
      { ...this.chainEnv, ...env },
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

  /** The anchor queue's jobs by state, for a failing scenario's message. */
  async anchorQueueState(): Promise<string> {
    const queue = createAnchorQueue({
      connection: redisOptionsFromUrl(this.redisUrl),
      prefix: this.prefix,
    });
    try {
      const jobs = await queue.getJobs(["active", "waiting", "delayed", "completed", "failed"]);
      const states = await Promise.all(
        jobs.map(async (job) => `${job.id} ${await job.getState()} (${job.attemptsMade} attempts)`),
      );
      return `anchor queue: ${JSON.stringify(await queue.getJobCounts())}\n${states.join("\n")}`;
    } catch (error) {
      return `anchor queue unreadable: ${String(error)}`;
    } finally {
      await queue.close();
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
    await Promise.all([this.redis?.stop(), this.anvil?.stop()]);
    if (this.tmp) await rm(this.tmp, { recursive: true, force: true });
  }

  /** Logs of every process, for a failing assertion's message. */
  logs(limit = 20_000): string {
    return [
      ...this.processes.map(
        (p) =>
          `--- ${p.child.spawnargs.slice(2, 3).join(" ")} ${p.child.pid}\n${p.stderr()}${p.stdout()}`,
      ),
      `--- anvil (last lines)\n${this.anvil?.output() ?? ""}`,
    ]
      .join("\n")
      .slice(-limit);
  }
}

/**
 * What every scenario checks once the job is over: it completed; every round completed with
 * exactly its accepted updates recorded; each round's model is the FedAvg of those updates
 * on the round's global model, so no accepted update is missing from (or extra in) a model;
 * and every round is anchored exactly once, with what the store holds (`expectAnchoredOnce`).
 */
export async function expectJobIntact(cluster: FaultCluster, jobId: string): Promise<void> {
  await expectRoundsAggregated(cluster, jobId);
  await expectAnchoredOnce(cluster, jobId);
}

async function expectRoundsAggregated(cluster: FaultCluster, jobId: string): Promise<void> {
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

/**
 * The job's rounds on the registry: one RoundAnchored event per round and none for any other
 * round, each naming the round's model and parent as stored and the Merkle roots rebuilt from
 * the round's stored contributions (so the anchor commits to exactly the updates in the
 * model), in the transaction the round record names. Anchoring runs after a round, not before
 * the job ends, so this first waits (bounded) until every round records its anchor.
 */
export async function expectAnchoredOnce(cluster: FaultCluster, jobId: string): Promise<void> {
  const job = await cluster.store((store) => store.getJob(jobId));
  expect(job.chainJobId, "the job was registered on the chain").toMatch(/^[1-9][0-9]*$/);
  const rounds = job.spec.rounds;
  await until(
    () =>
      cluster.store(async (store) => {
        for (let r = 1; r <= rounds; r++) {
          if (!(await store.getRound(jobId, r)).anchorTx) return false;
        }
        return true;
      }),
    60_000,
    `every round of job ${jobId} recording its anchor`,
  ).catch(async (error: Error) => {
    throw new Error(`${error.message}\n${await cluster.anchorQueueState()}\n${cluster.logs()}`);
  });
  const registry = cluster.anvil!.registryClient();
  const chainJobId = BigInt(job.chainJobId);
  const events = await registry.getRoundAnchoredEvents({ jobId: chainJobId });
  expect(
    events.map((event) => event.round),
    "exactly one anchor per round",
  ).toEqual(Array.from({ length: rounds }, (_, i) => i + 1));
  await cluster.store(async (store) => {
    for (const event of events) {
      const r = event.round;
      const round = await store.getRound(jobId, r);
      const tree = buildRoundTree(roundLeaves(await storedRoundLeafInputs(store, jobId, r)));
      expect(event.txHash, `round ${r}`).toBe(round.anchorTx);
      expect(event.modelHash, `round ${r}`).toBe(`0x${round.modelHash}`);
      expect(event.parentHash, `round ${r}`).toBe(`0x${round.globalModelHash}`);
      expect(event.contributionsRoot, `round ${r}`).toBe(round.contributionsRoot);
      expect(event.contributionsRoot, `round ${r}`).toBe(tree.contributionsRoot);
      expect(event.creditsRoot, `round ${r}`).toBe(tree.creditsRoot);
      expect(event.contributors, `round ${r}`).toBe(round.accepted);
      const onChain = await registry.getRound(chainJobId, r);
      expect(onChain?.modelHash, `round ${r}`).toBe(event.modelHash);
      expect(onChain?.roundRoot, `round ${r}`).toBe(
        hashPair(tree.contributionsRoot, tree.creditsRoot),
      );
    }
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

export interface PrivateAnvil {
  rpcUrl: string;
  chainId: number;
  registry: Address;
  /** Anvil's first dev key: it deployed the registry and signs every coordinator transaction. */
  privateKey: Hex;
  sender: Address;
  /**
   * Stops the node. SIGTERM (and SIGINT) dump its state to disk first: mined blocks, receipts
   * and logs survive a restart, the pool of pending transactions does not.
   */
  kill(signal: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port from the dumped state; `mining: false` mines on demand only. */
  restart(options?: { mining?: boolean }): Promise<void>;
  stop(): Promise<void>;
  /** Mine on every transaction (Anvil's default) or only when told to (`mine`). */
  setAutomine(enabled: boolean): Promise<void>;
  mine(): Promise<void>;
  /** Hashes of the sender's transactions in the node's pool, not mined yet. */
  pendingTransactions(): Promise<Hash[]>;
  /** How many transactions the sender has had mined (its nonce). */
  minedTransactions(): Promise<number>;
  registryClient(): RegistryClient;
  /** The node's last output, for a failing scenario's message. */
  output(): string;
}

/**
 * Anvil on a free loopback port with `--state` in `dir` (as the demo keeps its chain), and the
 * registry deployed. Spawned here rather than by `startAnvil`, as Redis is above: a scenario
 * must choose the signal that stops it.
 */
async function startPrivateAnvil(dir: string): Promise<PrivateAnvil> {
  await mkdir(dir, { recursive: true });
  const port = await freePort();
  const chainId = 31337;
  const rpcUrl = `http://127.0.0.1:${port}`;
  const [account] = anvilAccounts(1);
  let child: ChildProcess | undefined;
  let output = "";
  const launch = async (options: { mining?: boolean } = {}) => {
    child = spawn(
      resolveAnvilBinary(),
      [
        "--host",
        "127.0.0.1",
        "--port",
        String(port),
        "--chain-id",
        String(chainId),
        "--mnemonic",
        anvilMnemonic,
        "--state",
        chainStatePath(dir),
        ...(options.mining === false ? ["--no-mining"] : []),
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    // Anvil logs every call: keep reading so its pipes never fill, and keep the tail.
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString("utf8")).slice(-4_000);
    };
    child.stdout!.on("data", keep);
    child.stderr!.on("data", keep);
    await until(
      async () => {
        if (child!.exitCode !== null) throw new Error(`anvil exited:\n${output}`);
        return (await publicClient.getChainId()) === chainId;
      },
      30_000,
      `anvil answering on ${rpcUrl}\n${output}`,
    );
  };
  const transport = http(rpcUrl, { retryCount: 0 });
  const publicClient = createPublicClient({ transport });
  const testClient = createTestClient({ mode: "anvil", transport });
  await launch();
  const { registry } = await deployTestRegistry({
    rpcUrl,
    chainId,
    port,
    accounts: [account!],
    stop: async () => {},
  });
  // The registry client imports the compiled contract, which deployTestRegistry has built.
  const { createRegistryClient } = await import("../../coordinator/chain/registry-client.js");
  const stop = async () => {
    if (child) await kill(child, "SIGKILL");
  };
  return {
    rpcUrl,
    chainId,
    registry,
    privateKey: account!.privateKey,
    sender: account!.address,
    kill: async (signal) => {
      if (child) await kill(child, signal);
    },
    restart: launch,
    stop,
    setAutomine: (enabled) => testClient.setAutomine(enabled),
    mine: () => testClient.mine({ blocks: 1 }),
    async pendingTransactions() {
      const pool = await testClient.getTxpoolContent();
      const mine = Object.entries(pool.pending).find(
        ([sender]) => sender.toLowerCase() === account!.address.toLowerCase(),
      );
      return mine ? Object.values(mine[1]).map((tx) => tx.hash) : [];
    },
    minedTransactions: () => publicClient.getTransactionCount({ address: account!.address }),
    registryClient: () => createRegistryClient({ rpcUrl, chainId, registry }),
    output: () => output,
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
