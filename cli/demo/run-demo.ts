import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Logger } from "pino";
import { type Hex, zeroHash } from "viem";
import type { PreferredBackend } from "../../client/node/backend.js";
import { readModelStream } from "../../client/node/coordinator-client.js";
import { coresPerDeviceProcess, DEVICE_CORES_ENV } from "../../client/node/device-cores.js";
import {
  type DatasetName,
  loadSimulatedPartition,
  loadTestSet,
} from "../../client/node/simulated-data.js";
import { spawnFleetShards } from "../../client/node/simulation/fleet-shards.js";
import { prepareTrainingBackend } from "../../client/node/training-backend.js";
import { FedproofError } from "../../common/errors.js";
import { redact } from "../../common/redact.js";
import {
  type ChainConfig,
  fetchChainId,
  makeChainConfig,
} from "../../coordinator/chain/chain-config.js";
import { deployRegistry } from "../../coordinator/chain/deploy-registry.js";
import { exportBundle } from "../../coordinator/chain/export-bundle.js";
import { type RunningCoordinator, startCoordinator } from "../../coordinator/coordinator.js";
import { type JobCircuits, verificationKeysOf } from "../../coordinator/jobs/job-circuits.js";
import { specToMessage } from "../../coordinator/jobs/job-messages.js";
import type { JobStore } from "../../coordinator/store/job-store.js";
import { deleteKeysWithPrefix } from "../../coordinator/store/redis.js";
import { bearer, createFedproofClients, type FedproofClients, unary } from "../../proto/clients.js";
import type { JobEvent__Output } from "../../proto/generated/fedproof/v1/JobEvent.js";
import type { JobInfo__Output } from "../../proto/generated/fedproof/v1/JobInfo.js";
import type { JobSpecInput } from "../../protocol/job/job-spec.js";
import type { ModelPreset } from "../../protocol/model/presets.js";
import { type DataAttestation, dataAttestationOf } from "../../protocol/proofs/data-attestation.js";
import { parseDataValiditySignals } from "../../protocol/proofs/public-signals.js";
import {
  type AttesterSet,
  attestDataset,
  attesterSetToJson,
  buildAttesterSet,
  datasetAttestationToJson,
} from "../../protocol/proving/attester-set.js";
import { datasetTree, encodeDataset } from "../../protocol/proving/dataset-commitment.js";
import { derivePublicKey, randomPrivateKey } from "../../protocol/proving/eddsa-poseidon.js";
import { createLogger } from "../output.js";
import { startAnvil } from "./anvil.js";
import { chainStatePath, writeChainDescriptor } from "./chain-state-dir.js";
import { ModelEvaluator } from "./evaluate-model.js";
import { type PrivateRedis, startPrivateRedis } from "./private-redis.js";

const BIN = fileURLToPath(new URL("../../bin/fedproof.js", import.meta.url));

export interface DemoParameters {
  /** Aborting it stops the demo and everything it started (see runDemo). */
  signal?: AbortSignal;
  clients: number;
  dataset: DatasetName;
  partition: string;
  seed: number;
  backend: PreferredBackend;
  spec: JobSpecInput;
  out?: string;
  logLevel?: string;
  /** The first `count` simulated devices attack with `attack`, within the clip bound. */
  byzantine?: { count: number; attack: string };
  /**
   * Anchor on this chain. Without it the demo runs its own Anvil (state kept in `out`
   * when given) and deploys a registry with Anvil's first, publicly known dev key.
   */
  chain?: { rpcUrl: string; chainId?: number; registry?: string; privateKey: string };
  /** Skip the chain entirely (no anchoring). */
  noChain?: boolean;
  /** Serve the web app (device page, dashboard) beside the demo; on by default, any free port. */
  web?: { port?: number } | false;
  /**
   * Generate this many attester keys, name their set in the job's spec, and give device i an
   * attestation of its records by key i mod n: the job then accepts only attested data.
   */
  attesters?: number;
  /** Called with each human progress line. */
  onProgress(line: string): void;
}

export interface DemoRound {
  round: number;
  accepted: number;
  rejected: number;
  late: number;
  selected: number;
  testAccuracy: number;
  testLoss: number;
  federatedAccuracy: number;
  modelHash: string;
  /** Transaction that anchored the round ("" without a chain). */
  anchorTx: string;
  /** ε spent after this round (0 without DP noise). */
  epsilon: number;
  clipNorm: number;
  /** Contributions whose proofs verified / were rejected (0 and 0 without proofs). */
  proofsVerified: number;
  proofsRejected: number;
  /** Mean seconds a device spent proving its accepted contribution (0 without proofs). */
  meanProveSeconds: number;
  /** Per accepted contribution, who vouches for its data (from its DataValidity proof). */
  contributions: { deviceId: string; data: DataAttestation | "no data proof" }[];
  seconds: number;
}

export interface DemoResult {
  jobId: string;
  state: string;
  reason: string;
  model: string;
  dataset: string;
  partition: string;
  strategy: string;
  byzantine: string;
  clients: number;
  clientsPerRound: number;
  backend: string;
  backendReason: string;
  initialModelHash: string;
  initialTestAccuracy: number;
  registry: string;
  chainId: number;
  rpcUrl: string;
  chainJobId: string;
  /** Whether updates carried zero-knowledge proofs; false only in the --no-proofs comparison mode. */
  proofs: boolean;
  /** The job's circuits and their verification-key hashes (empty without proofs). */
  circuits: { id: string; vkeyHash: string; insecure: boolean }[];
  /** What the chain pins for the job's keys (the zero hash without proofs). */
  vkeyHash: string;
  /** What ε is accounted against, e.g. "no amplification (q = 1)"; "" without central DP. */
  population: string;
  /** The attester set the job's spec pins (root, depth, keys); null for self-attested data. */
  attesters: { root: string; depth: number; keys: number } | null;
  rounds: DemoRound[];
  finalModelHash: string;
  totalSeconds: number;
}

/** How long a device process gets to exit after SIGTERM once its job has ended. */
const DEVICE_STOP_GRACE_MS = 2_000;

/**
 * The main job on the embedded default: Redis (private unless REDIS_URL is set), the
 * coordinator with its workers, N simulated devices as separate processes each with its
 * own data and model, one job to the end, every round's model measured on a test set.
 */
export async function runDemo(parameters: DemoParameters): Promise<DemoResult> {
  const cleanups = new Cleanups();
  // Stopped from outside (SIGTERM, Ctrl-C): everything started so far is stopped at once,
  // devices first, then the coordinator, the chain and the private Redis, and the demo
  // rejects; anything the demo starts later is stopped as soon as it is registered.
  const stopped = new Promise<never>((_, reject) => {
    parameters.signal?.addEventListener(
      "abort",
      () => {
        // Rejected before the cleanups start, so the demo reports why it stopped rather than
        // the first call they cancel.
        reject(
          new FedproofError(`the demo was stopped (${String(parameters.signal!.reason)})`, {
            code: "UNAVAILABLE",
          }),
        );
        void cleanups.runAll();
      },
      { once: true },
    );
  });
  const demo = runDemoWith(parameters, cleanups);
  // Once stopped, the demo's own steps fail as their services go away: nothing to report.
  demo.catch(() => {});
  try {
    return await Promise.race([demo, stopped]);
  } finally {
    await cleanups.runAll();
  }
}

/**
 * What the demo has started, stopped in reverse order exactly once. A cleanup registered after
 * that (a step that was still starting something when the demo was stopped) runs at once.
 */
class Cleanups {
  private readonly pending: (() => Promise<void>)[] = [];
  private ran: Promise<void> | undefined;

  push(cleanup: () => Promise<void>): void {
    if (this.ran) void cleanup().catch(() => {});
    else this.pending.push(cleanup);
  }

  runAll(): Promise<void> {
    this.ran ??= (async () => {
      for (const cleanup of this.pending.reverse()) await cleanup().catch(() => {});
    })();
    return this.ran;
  }
}

async function runDemoWith(parameters: DemoParameters, cleanups: Cleanups): Promise<DemoResult> {
  const started = Date.now();
  {
    const preset = parameters.spec.model as ModelPreset;
    // Before the coordinator starts, so that it builds initial models on the devices' backend.
    const backend = await prepareTrainingBackend(preset, parameters.backend);
    const services = await startServices(parameters, cleanups);
    const testSet = await loadTestSet(parameters.dataset, parameters.seed);
    const evaluator = new ModelEvaluator(preset, testSet);
    cleanups.push(async () => evaluator.dispose());
    const attesters = parameters.attesters ? demoAttesters(parameters) : undefined;
    const { job, circuits } = await createDemoJob(parameters, services, backend.backend);
    const webUrl = services.coordinator.webUrl;
    if (webUrl) {
      parameters.onProgress(
        `dashboard: ${webUrl}#/dashboard?job=${job.jobId} — join from a browser: ${webUrl}#/device?job=${job.jobId}`,
      );
    }
    const attestations =
      attesters && circuits
        ? await writeAttestations(parameters, attesters, circuits, services.workDir)
        : undefined;
    const devices = startDevices(
      parameters,
      services.coordinator.address,
      job,
      backend.backend,
      attestations,
    );
    cleanups.push(async () => void (await devices.stop()));

    const initialBytes = await download(services.clients, job.jobId, 0);
    const initial = await evaluator.evaluate(initialBytes.bytes);
    parameters.onProgress(
      `initial model ${job.initialModelHash.slice(0, 12)}… test accuracy ${initial.accuracy.toFixed(4)}`,
    );
    const watched = await watchJob(parameters, services, job, evaluator);
    // However the job ended, its devices have nothing left to do: a device still setting up
    // (proving keys, dataset commitment) would otherwise hold the demo for many minutes.
    const exitCodes = await devices.stop();
    let final = watched.final;
    const { chain } = services;
    if (chain && final) {
      final = await waitForAnchors(services.clients, job.jobId, watched.rounds.length);
      for (const round of watched.rounds) {
        round.anchorTx = final.rounds?.find((r) => r.round === round.round)?.anchorTx ?? "";
      }
      parameters.onProgress(
        `all ${watched.rounds.length} rounds anchored in registry ${chain.registry}`,
      );
    }
    const result = describeResult(parameters, {
      job,
      final,
      circuits,
      chain,
      backend,
      initialTestAccuracy: initial.accuracy,
      rounds: watched.rounds,
      started,
    });
    if (parameters.out) await writeOutputs(parameters.out, services, result, circuits);
    if (result.state !== "COMPLETED") {
      throw new FedproofError(`the demo job ended ${result.state}: ${result.reason}`, {
        code: "INTERNAL",
      });
    }
    // Devices this demo stopped have no exit code; only those that failed on their own count.
    const failedDevices = exitCodes.filter((code) => code !== null && code !== 0).length;
    if (failedDevices > 0)
      parameters.onProgress(`${failedDevices} simulated devices exited with an error`);
    return result;
  }
}

interface DemoServices {
  coordinator: RunningCoordinator;
  clients: FedproofClients;
  chain?: ChainConfig;
  /** Scratch space removed when the demo ends. */
  workDir: string;
}

/** Redis (private unless REDIS_URL is set), the chain unless turned off, the coordinator. */
async function startServices(
  parameters: DemoParameters,
  cleanups: Cleanups,
): Promise<DemoServices> {
  const logger: Logger = createLogger({ logLevel: parameters.logLevel }, "warn");
  let redisUrl = process.env.REDIS_URL;
  if (!redisUrl) {
    const redis: PrivateRedis = await startPrivateRedis();
    cleanups.push(redis.stop);
    redisUrl = redis.url;
    parameters.onProgress(`started a private redis-server at ${redis.url}`);
  }
  const workDir = await mkdtemp(path.join(os.tmpdir(), "fedproof-demo-"));
  cleanups.push(() => rm(workDir, { recursive: true, force: true }));
  const prefix = `fedproof-demo-${process.pid}-${Date.now()}`;
  const chain = parameters.noChain ? undefined : await prepareChain(parameters, cleanups);
  if (chain)
    parameters.onProgress(
      `anchoring on chain ${chain.chainId} at ${redact(chain.rpcUrl)}, registry ${chain.registry}`,
    );
  const coordinator = await startCoordinator({
    redisUrl,
    prefix,
    storeDir: path.join(workDir, "store"),
    port: 0,
    logger,
    chain,
    web: parameters.web === false ? undefined : { port: parameters.web?.port ?? 0 },
    // The demo's Redis (private, or $REDIS_URL under a prefix it deletes) holds throwaway state.
    ephemeral: true,
  });
  const sharedRedisUrl = redisUrl;
  cleanups.push(async () => {
    await coordinator.stop();
    if (process.env.REDIS_URL) await deleteKeysWithPrefix(sharedRedisUrl, prefix);
  });
  parameters.onProgress(
    `coordinator on ${coordinator.address} with in-process verify and aggregate workers`,
  );
  const clients = createFedproofClients(coordinator.address);
  cleanups.push(async () => clients.close());
  return { coordinator, clients, chain, workDir };
}

interface DemoAttesters {
  privateKeys: Uint8Array[];
  set: AttesterSet;
}

/**
 * `attesters` fresh keys and their set, named in the job's spec (`spec.attesters`), so the spec
 * hash the chain registers pins the set's root; the smallest tree that holds the keys.
 */
function demoAttesters(parameters: DemoParameters): DemoAttesters {
  const count = parameters.attesters!;
  const privateKeys = Array.from({ length: count }, () => randomPrivateKey());
  const depth = Math.max(1, Math.ceil(Math.log2(count)));
  const set = buildAttesterSet({ keys: privateKeys.map(derivePublicKey), depth });
  parameters.spec = { ...parameters.spec, attesters: attesterSetToJson(set) };
  parameters.onProgress(
    `attester set of ${count} generated keys (depth ${depth}), root ${set.root.toString().slice(0, 12)}…: the job accepts only data they signed`,
  );
  return { privateKeys, set };
}

/**
 * What each simulated device's data provider hands it: an attestation of exactly its records,
 * encoded as the job's data-validity circuit encodes them, signed by attester i mod n (what
 * `fedproof attester sign --simulate` does), and the set, as `--attestation` / `--attester-set`.
 */
async function writeAttestations(
  parameters: DemoParameters,
  attesters: DemoAttesters,
  circuits: JobCircuits,
  workDir: string,
): Promise<{ attestation: string; attesterSet: string }[]> {
  const dir = path.join(workDir, "attestations");
  await mkdir(dir, { recursive: true });
  const attesterSet = path.join(dir, "attester-set.json");
  await writeFile(attesterSet, `${JSON.stringify(attesterSetToJson(attesters.set), null, 2)}\n`);
  const files: { attestation: string; attesterSet: string }[] = [];
  for (let index = 0; index < parameters.clients; index++) {
    const data = await loadSimulatedPartition({
      dataset: parameters.dataset,
      partition: parameters.partition,
      clients: parameters.clients,
      index,
      seed: parameters.seed,
    });
    const records = encodeDataset(data, {
      featureScale: circuits.featureScale,
      min: data.schema.min,
      max: data.schema.max,
    });
    const { tree, sampleCount } = datasetTree({
      parameters: circuits.dataValidity.parameters,
      records,
    });
    const privateKey = attesters.privateKeys[index % attesters.privateKeys.length]!;
    const attestation = attestDataset({ privateKey, root: tree.root, sampleCount });
    const file = path.join(dir, `device-${index}.json`);
    await writeFile(
      file,
      `${JSON.stringify(datasetAttestationToJson(attestation, { root: tree.root, sampleCount }), null, 2)}\n`,
    );
    files.push({ attestation: file, attesterSet });
  }
  return files;
}

/** Who vouches for a contribution's data, as `fedproof verify` reports it. */
function contributionAttestation(
  spec: JobSpecInput,
  proofs: readonly { circuitId: string; publicSignals: string[] }[],
  dataValidityId: string | undefined,
): DataAttestation | "no data proof" {
  const proof = proofs.find((p) => p.circuitId === dataValidityId);
  if (!proof) return "no data proof";
  const root = parseDataValiditySignals(proof.publicSignals).attesterRoot;
  return dataAttestationOf({ attesters: spec.attesters }, root) ?? "no data proof";
}

/** Creates the job through the Jobs API, as a researcher would, and says what it is. */
async function createDemoJob(
  parameters: DemoParameters,
  services: DemoServices,
  backend: string,
): Promise<{ job: JobInfo__Output; circuits?: JobCircuits }> {
  const { coordinator, clients } = services;
  const setupStarted = Date.now();
  if (parameters.spec.proofs === true) {
    parameters.onProgress(
      "preparing the job's circuits (INSECURE development setup; cached by content hash, so only the first run builds them)",
    );
  } else {
    parameters.onProgress(
      "COMPARISON MODE (--no-proofs): updates carry no zero-knowledge proofs; the coordinator checks only their shape and norm",
    );
  }
  const job = await unary<JobInfo__Output>((cb) =>
    clients.jobs.createJob({ spec: specToMessage(parameters.spec) }, bearer(coordinator.token), cb),
  );
  const circuits =
    parameters.spec.proofs === true ? await coordinator.jobs.jobCircuits(job.jobId) : undefined;
  if (circuits) {
    parameters.onProgress(
      `circuits ready in ${((Date.now() - setupStarted) / 1000).toFixed(1)} s: ${circuits.updateNorm.id} (chunks of ${circuits.updateNorm.parameters.n}), ${circuits.dataValidity.id}${circuits.noiseNorm ? `, ${circuits.noiseNorm.id} (the DP noise)` : ""}; vkey hash ${circuits.vkeyHash}${circuits.updateNorm.insecure ? " (INSECURE development keys)" : ""}`,
    );
  }
  parameters.onProgress(
    `job ${job.jobId}: ${parameters.spec.model} (${job.paramCount} parameters), ${job.spec?.rounds} rounds, ${job.spec?.clientsPerRound} of ${parameters.clients} devices per round, backend ${backend}`,
  );
  return { job, circuits };
}

interface DeviceProcesses {
  /**
   * Stops every device still running (SIGTERM, then SIGKILL after a short grace) and
   * resolves with each device's exit code: null for those stopped here. Idempotent.
   */
  stop(): Promise<(number | null)[]>;
}

/**
 * One `fedproof client` process per simulated device, each with its own slice of the data;
 * more than FLEET_ABOVE devices (~720 MB a process) run as a virtual fleet instead.
 */
function startDevices(
  parameters: DemoParameters,
  address: string,
  job: JobInfo__Output,
  backend: string,
  attestations?: { attestation: string; attesterSet: string }[],
): DeviceProcesses {
  if (parameters.clients > FLEET_ABOVE && !attestations) {
    return startFleet(parameters, address, job, backend);
  }
  const children: ChildProcess[] = [];
  const exits: Promise<number | null>[] = [];
  for (let index = 0; index < parameters.clients; index++) {
    const child = spawn(
      process.execPath,
      [
        BIN,
        "client",
        "--coordinator",
        address,
        "--job",
        job.jobId,
        "--device-id",
        `sim-${String(index).padStart(3, "0")}`,
        "--simulate",
        parameters.dataset,
        "--partition",
        parameters.partition,
        "--clients",
        String(parameters.clients),
        "--index",
        String(index),
        "--seed",
        String(parameters.seed),
        "--model",
        String(parameters.spec.model),
        "--backend",
        backend,
        "--json",
        "--log-level",
        parameters.logLevel ?? "warn",
        ...(index < (parameters.byzantine?.count ?? 0)
          ? ["--attack", parameters.byzantine!.attack]
          : []),
        ...(attestations
          ? [
              "--attestation",
              attestations[index]!.attestation,
              "--attester-set",
              attestations[index]!.attesterSet,
            ]
          : []),
      ],
      {
        stdio: ["ignore", "ignore", "inherit"],
        // The devices share this machine's cores: each proves (and hashes its leaves) on its
        // share instead of starting a thread per core that every other device also starts.
        env: {
          ...process.env,
          [DEVICE_CORES_ENV]:
            process.env[DEVICE_CORES_ENV] || String(coresPerDeviceProcess(parameters.clients)),
        },
      },
    );
    children.push(child);
    exits.push(
      new Promise((resolve) => {
        child.once("exit", (code) => resolve(code));
        child.once("error", () => resolve(1));
      }),
    );
  }
  const running = () => children.filter((c) => c.exitCode === null && c.signalCode === null);
  let stopped: Promise<(number | null)[]> | undefined;
  return {
    stop() {
      stopped ??= (async () => {
        for (const child of running()) child.kill("SIGTERM");
        const kill = setTimeout(() => {
          for (const child of running()) child.kill("SIGKILL");
        }, DEVICE_STOP_GRACE_MS);
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

/** Above this many devices the demo runs them as a virtual fleet (client/node/simulation). */
export const FLEET_ABOVE = 16;

/**
 * The devices as `fedproof simulate` shards, one per core: every device still has its own key,
 * signed Join, partition, session and task stream on the real gRPC API, but a process holds
 * hundreds of them, sharing the data pool, tfjs, one channel and one prover per circuit.
 */
function startFleet(
  parameters: DemoParameters,
  address: string,
  job: JobInfo__Output,
  backend: string,
): DeviceProcesses {
  const processes = Math.max(1, Math.min(os.availableParallelism(), 4));
  parameters.onProgress(
    `${parameters.clients} devices as a virtual fleet in ${processes} processes (fedproof simulate), joining at 40/s under the job's Join rate limit`,
  );
  const shards = spawnFleetShards({
    bin: BIN,
    processes,
    args: [
      ...["--coordinator", address, "--job", job.jobId],
      ...["--devices", String(parameters.clients), "--dataset", parameters.dataset],
      ...["--partition", parameters.partition, "--seed", String(parameters.seed)],
      ...["--model", String(parameters.spec.model), "--backend", backend],
      ...["--log-level", parameters.logLevel ?? "warn"],
      ...(parameters.byzantine
        ? ["--byzantine", `${parameters.byzantine.count}:${parameters.byzantine.attack}`]
        : []),
    ],
  });
  return { stop: () => shards.stop(DEVICE_STOP_GRACE_MS) };
}

/** Follows the job until it ends, measuring each new global model on the test set. */
async function watchJob(
  parameters: DemoParameters,
  services: DemoServices,
  job: JobInfo__Output,
  evaluator: ModelEvaluator,
): Promise<{ rounds: DemoRound[]; final?: JobInfo__Output }> {
  const { coordinator, clients } = services;
  const proofs = parameters.spec.proofs === true;
  const dataValidityId = proofs
    ? (await coordinator.jobs.jobCircuits(job.jobId))?.dataValidity.id
    : undefined;
  const rounds: DemoRound[] = [];
  let final: JobInfo__Output | undefined;
  let roundStarted = Date.now();
  const stream = clients.jobs.watchJob({ jobId: job.jobId });
  for await (const event of stream as AsyncIterable<JobEvent__Output>) {
    final = event.job ?? final;
    if (event.type === "round-started") roundStarted = Date.now();
    if (event.type === "round-completed") {
      const summary = event.job?.rounds?.find((r) => r.round === event.round);
      const contributions = await coordinator.store.contributions(job.jobId, event.round);
      const { bytes } = await download(clients, job.jobId, event.round);
      const measured = await evaluator.evaluate(bytes);
      const round: DemoRound = {
        round: event.round,
        accepted: summary?.accepted ?? 0,
        rejected: summary?.rejected ?? 0,
        late: summary?.late ?? 0,
        selected: summary?.selected ?? 0,
        testAccuracy: measured.accuracy,
        testLoss: measured.loss,
        federatedAccuracy: summary?.federatedAccuracy ?? 0,
        modelHash: summary?.modelHash ?? "",
        anchorTx: "",
        epsilon: summary?.epsilon ?? 0,
        clipNorm: summary?.clipNorm ?? 0,
        proofsVerified: summary?.proofsVerified ?? 0,
        proofsRejected: summary?.proofsRejected ?? 0,
        meanProveSeconds:
          contributions.length > 0
            ? contributions.reduce((sum, c) => sum + c.metrics.proveSeconds, 0) /
              contributions.length
            : 0,
        contributions: proofs
          ? contributions.map((c) => ({
              deviceId: c.deviceId,
              data: contributionAttestation(parameters.spec, c.proofs, dataValidityId),
            }))
          : [],
        seconds: (Date.now() - roundStarted) / 1000,
      };
      rounds.push(round);
      parameters.onProgress(
        `round ${round.round}/${job.spec?.rounds}: ${round.accepted} accepted, ${round.rejected} rejected, ${round.late} late · test accuracy ${round.testAccuracy.toFixed(4)}${round.epsilon > 0 ? ` · ε ${round.epsilon.toFixed(3)}` : ""}${proofs ? ` · ${round.proofsVerified} proven, ${round.proofsRejected} proofs rejected, ${round.meanProveSeconds.toFixed(1)} s proving per device` : ""} · model ${round.modelHash.slice(0, 12)}… · ${round.seconds.toFixed(1)} s`,
      );
      for (const c of round.contributions) parameters.onProgress(`  ${c.deviceId}: ${c.data}`);
    } else if (
      event.type === "round-failed" ||
      event.type === "job-failed" ||
      event.type === "job-cancelled"
    ) {
      parameters.onProgress(`${event.type}: ${event.message}`);
    }
  }
  return { rounds, final };
}

/** The demo's answer (`--json`, demo.json) from what the job and the chain say. */
function describeResult(
  parameters: DemoParameters,
  outcome: {
    job: JobInfo__Output;
    final?: JobInfo__Output;
    circuits?: JobCircuits;
    chain?: ChainConfig;
    backend: { backend: string; reason: string };
    initialTestAccuracy: number;
    rounds: DemoRound[];
    started: number;
  },
): DemoResult {
  const { job, final, circuits, chain } = outcome;
  return {
    jobId: job.jobId,
    state: String(final?.state ?? "JOB_STATE_UNSPECIFIED").replace("JOB_STATE_", ""),
    reason: final?.reason ?? "",
    model: String(parameters.spec.model),
    dataset: parameters.dataset,
    partition: parameters.partition,
    strategy: job.spec?.strategy?.name ?? "fedavg",
    byzantine: parameters.byzantine
      ? `${parameters.byzantine.count}:${parameters.byzantine.attack}`
      : "none",
    clients: parameters.clients,
    clientsPerRound: job.spec?.clientsPerRound ?? 0,
    backend: outcome.backend.backend,
    backendReason: outcome.backend.reason,
    initialModelHash: job.initialModelHash,
    initialTestAccuracy: outcome.initialTestAccuracy,
    registry: chain?.registry ?? "",
    chainId: chain?.chainId ?? 0,
    rpcUrl: redact(chain?.rpcUrl ?? ""),
    chainJobId: final?.chainJobId ?? "",
    proofs: parameters.spec.proofs === true,
    circuits: circuits
      ? [circuits.updateNorm, circuits.dataValidity].map((c) => ({
          id: c.id,
          vkeyHash: c.vkeyHash,
          insecure: c.insecure,
        }))
      : [],
    vkeyHash: circuits?.vkeyHash ?? zeroHash,
    population: job.population ?? "",
    attesters: parameters.spec.attesters
      ? {
          root: parameters.spec.attesters.root,
          depth: parameters.spec.attesters.depth,
          keys: parameters.spec.attesters.keys?.length ?? 0,
        }
      : null,
    rounds: outcome.rounds,
    finalModelHash: final?.currentModelHash ?? "",
    totalSeconds: (Date.now() - outcome.started) / 1000,
  };
}

/** `--out DIR`: the model and its manifest, demo.json, proofs and keys, the provenance bundle. */
async function writeOutputs(
  out: string,
  services: DemoServices,
  result: DemoResult,
  circuits: JobCircuits | undefined,
): Promise<void> {
  const { coordinator, clients, chain } = services;
  await mkdir(out, { recursive: true });
  const { bytes, header } = await download(clients, result.jobId, 0);
  await writeFile(path.join(out, "model.bin"), bytes);
  await writeFile(
    path.join(out, "manifest.json"),
    `${JSON.stringify({ modelHash: header.modelHash, jobId: result.jobId, ...JSON.parse(header.manifestJson) }, null, 2)}\n`,
  );
  await writeFile(path.join(out, "demo.json"), `${JSON.stringify(result, null, 2)}\n`);
  if (circuits) {
    await writeProofFiles(out, coordinator.store, result.jobId, result.rounds, circuits);
  }
  if (chain) {
    const bundle = await exportBundle({
      store: coordinator.store,
      // The initial model and each round's aggregate, which verify replays the models from.
      artifacts: coordinator.artifacts,
      jobId: result.jobId,
      verificationKeys: circuits ? verificationKeysOf(circuits) : undefined,
      chain: {
        chainId: chain.chainId,
        registry: chain.registry,
        chainJobId: result.chainJobId,
      },
    });
    await writeFile(path.join(out, "provenance.json"), `${JSON.stringify(bundle, null, 2)}\n`);
    await writeChainDescriptor(out, {
      rpcUrl: chain.rpcUrl,
      registry: chain.registry,
      chainId: chain.chainId,
    });
  }
}

/**
 * Standard snarkjs files, so `npx snarkjs groth16 verify vkey-<circuit>.json <proof>.public.json
 * <proof>.proof.json` checks any accepted contribution without fedproof: one verification key per
 * circuit, and per contribution its UpdateNorm chunk proofs and its data-validity proof.
 * `contributions/index.json` names the key each proof verifies under; `vkeys.json` holds them all
 * by circuit id.
 */
async function writeProofFiles(
  out: string,
  store: JobStore,
  jobId: string,
  rounds: readonly DemoRound[],
  circuits: JobCircuits,
): Promise<void> {
  const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;
  const keyFile = (id: string) => `vkey-${id}.json`;
  for (const circuit of [circuits.updateNorm, circuits.dataValidity]) {
    await writeFile(path.join(out, keyFile(circuit.id)), json(circuit.verificationKey));
  }
  // All keys by circuit id: what `fedproof verify --vkeys` and `job provenance --vkeys` read.
  await writeFile(path.join(out, "vkeys.json"), json(verificationKeysOf(circuits)));
  const dir = path.join(out, "contributions");
  await mkdir(dir, { recursive: true });
  const index: {
    round: number;
    deviceId: string;
    circuitId: string;
    vkey: string;
    proof: string;
    public: string;
  }[] = [];
  for (const { round } of rounds) {
    for (const contribution of await store.contributions(jobId, round)) {
      let chunk = 0;
      for (const proof of contribution.proofs) {
        const label = proof.circuitId === circuits.dataValidity.id ? "data" : `chunk-${chunk++}`;
        const base = `${round}-${contribution.deviceId}.${label}`;
        await writeFile(path.join(dir, `${base}.proof.json`), json(JSON.parse(proof.proofJson)));
        await writeFile(path.join(dir, `${base}.public.json`), json(proof.publicSignals));
        index.push({
          round,
          deviceId: contribution.deviceId,
          circuitId: proof.circuitId,
          vkey: keyFile(proof.circuitId),
          proof: `contributions/${base}.proof.json`,
          public: `contributions/${base}.public.json`,
        });
      }
    }
  }
  await writeFile(path.join(dir, "index.json"), json(index));
}

/**
 * The chain the demo anchors on: the one given, or its own Anvil. A registry is deployed when
 * none is named. Anvil's dev key is public knowledge: fine for a local demo, never for a real chain.
 */
async function prepareChain(parameters: DemoParameters, cleanups: Cleanups): Promise<ChainConfig> {
  if (parameters.chain) {
    const chainId = parameters.chain.chainId ?? (await fetchChainId(parameters.chain.rpcUrl));
    const registry =
      parameters.chain.registry ??
      (
        await deployRegistry({
          rpcUrl: parameters.chain.rpcUrl,
          chainId,
          account: parameters.chain.privateKey as Hex,
        })
      ).registry;
    return makeChainConfig({
      rpcUrl: parameters.chain.rpcUrl,
      chainId,
      registry,
      privateKey: parameters.chain.privateKey,
    });
  }
  const anvil = await startAnvil({
    statePath: parameters.out ? chainStatePath(parameters.out) : undefined,
  });
  // Stopping Anvil dumps its state into --out, so `fedproof chain serve --state DIR` can serve it again.
  cleanups.push(anvil.stop);
  const key = anvil.accounts[0]!.privateKey;
  const { registry } = await deployRegistry({
    rpcUrl: anvil.rpcUrl,
    chainId: anvil.chainId,
    account: key,
  });
  return makeChainConfig({
    rpcUrl: anvil.rpcUrl,
    chainId: anvil.chainId,
    registry,
    privateKey: key,
  });
}

/** Anchoring trails aggregation by a transaction: wait until every round has its receipt. */
async function waitForAnchors(
  clients: FedproofClients,
  jobId: string,
  rounds: number,
  timeoutMs = 120_000,
): Promise<JobInfo__Output> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const info = await unary<JobInfo__Output>((cb) => clients.jobs.getJob({ jobId }, cb));
    const anchored = (info.rounds ?? []).filter((r) => r.state === "ROUND_STATE_ANCHORED").length;
    if (anchored >= rounds) return info;
    if (Date.now() > deadline) {
      throw new FedproofError(
        `only ${anchored} of ${rounds} rounds were anchored within ${timeoutMs / 1000} s`,
        {
          code: "UNAVAILABLE",
        },
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function download(clients: FedproofClients, jobId: string, round: number) {
  return readModelStream(clients.jobs.downloadModel({ jobId, round }));
}
