import os from "node:os";
import path from "node:path";
import { type Command, Option } from "commander";
import { productionChunkSize } from "../../circuits/circuit-catalog.js";
import { parseByzantine } from "../../client/core/byzantine.js";
import { parsePartition } from "../../client/core/data/partition.js";
import type { PreferredBackend } from "../../client/node/backend.js";
import { parseDatasetName } from "../../client/node/simulated-data.js";
import { InvalidArgumentError } from "../../common/errors.js";
import { readChainKey } from "../../coordinator/chain/chain-config.js";
import { MODEL_PRESETS, STRATEGY_NAMES } from "../../protocol/job/job-spec.js";
import { parameterCount } from "../../protocol/model/parameter-count.js";
import { FLEET_ABOVE, runDemo } from "../demo/run-demo.js";
import { emit, progress, reportError } from "../output.js";
import { firstStopSignal } from "../stop-signal.js";
import { DATASET_SCHEMAS } from "./job-spec-options.js";
import { int, withCommon } from "./options.js";

/** After SIGTERM, the demo's own processes get this long to stop before it exits anyway. */
const DEMO_STOP_LIMIT_MS = 30_000;

export function registerDemoCommand(program: Command): void {
  withCommon(program.command("demo"))
    .description(
      "run a whole federated job on this machine: Redis, coordinator, workers and simulated devices",
    )
    .option("--clients <n>", "simulated devices", int("clients", 1), 8)
    .option("--clients-per-round <n>", "verified updates per round", int("clients-per-round", 1), 4)
    .option("--rounds <n>", "federated rounds", int("rounds", 1), 3)
    .addOption(
      new Option(
        "--model <preset>",
        "model preset (logreg by default: one proof chunk per update keeps a proven 8-device run to minutes; mlp is 60 chunks at 16 bits)",
      )
        .choices([...MODEL_PRESETS])
        .default("logreg"),
    )
    .addOption(
      new Option("--dataset <name>", "data")
        .choices(["synthetic", "fashion-mnist"])
        .default("synthetic"),
    )
    .option("--partition <spec>", "iid | dirichlet:ALPHA", "iid")
    .option("--seed <n>", "seed for data, partitions, initial model and sampling", int("seed"), 1)
    .option("--epochs <n>", "local epochs", int("epochs", 1))
    .option("--lr <x>", "local learning rate")
    .option("--clip-norm <C>", "L2 clip bound of each update")
    .option(
      "--deadline <seconds>",
      "round deadline (default 300 s; longer for a large proven fleet, whose selected devices queue for their process's prover)",
    )
    .option(
      "--enrolment-timeout <seconds>",
      "fail the job when not every device is online this long after it is created (default 300 s; longer for a large fleet, which joins under the Join rate limit)",
    )
    .addOption(
      new Option("--backend <name>", "tfjs backend for devices")
        .choices(["auto", "tensorflow", "wasm", "cpu"])
        .default("auto"),
    )
    .addOption(
      new Option("--strategy <name>", "aggregation strategy")
        .choices([...STRATEGY_NAMES])
        .default("fedavg"),
    )
    .option(
      "--dp-noise <z>",
      "central DP: Gaussian noise multiplier z (σ = z·C on the sum); 0 = off",
      "0",
    )
    .option("--dp-delta <δ>", "δ of the (ε, δ) guarantee", "1e-5")
    .option(
      "--dp-population <none|attested|N>",
      "population N of the sampling rate q = K/N that ε is accounted at: none (q = 1), attested, or a declared count",
      "none",
    )
    .option(
      "--epsilon-budget <ε>",
      "stop the job before a round would spend more than ε (0 = no budget)",
      "0",
    )
    .option(
      "--adaptive-clip <quantile>",
      "adapt C toward this quantile of update norms (Andrew et al. 2021); 0 = fixed C",
      "0",
    )
    .option(
      "--byzantine <k:attack>",
      "make k simulated devices malicious within the clip bound: scale | signflip | noise",
    )
    .option(
      "--attesters <n>",
      "generate n attester keys, pin their set in the job's spec and give every device an attestation of its records by one of them: the job accepts only attested data",
      int("attesters", 1),
    )
    .option(
      "--no-proofs",
      "COMPARISON MODE: updates carry no zero-knowledge proofs (labelled as such in the output)",
    )
    .option("--no-chain", "run without anchoring (no Anvil, no registry)")
    .option("--no-web", "serve no web app (device page, dashboard) beside the demo")
    .option("--web-port <port>", "HTTP port of the web app (0 = any free port)", int("web-port"), 0)
    .option(
      "--rpc-url <url>",
      "anchor on this chain instead of a private Anvil (key from --key-file or $FEDPROOF_CHAIN_KEY)",
    )
    .option("--chain-id <id>", "chain id of --rpc-url (default: asked from the endpoint)")
    .option("--registry <address>", "existing FedproofRegistry on --rpc-url (default: deploy one)")
    .option("--key-file <file>", "file holding the private key for --rpc-url")
    .option(
      "--out <dir>",
      "write the final model (model.bin + manifest.json), demo.json, and with proofs vkey-<circuit>.json and contributions/*.proof.json, *.public.json there",
    )
    .action(async (options) => {
      // SIGTERM or Ctrl-C stops the devices, coordinator, chain and private Redis the demo
      // started (without it they outlived the demo), then exits non-zero.
      const stop = new AbortController();
      void firstStopSignal({ limitMs: DEMO_STOP_LIMIT_MS, message: "stopping the demo" }).then(
        (signal) => stop.abort(signal),
      );
      try {
        const dataset = parseDatasetName(options.dataset);
        parsePartition(options.partition);
        if (options.clientsPerRound > options.clients) {
          throw new InvalidArgumentError(
            `--clients-per-round ${options.clientsPerRound} exceeds --clients ${options.clients}`,
          );
        }
        const schema = DATASET_SCHEMAS[dataset];
        const byzantine = options.byzantine ? parseByzantine(options.byzantine) : undefined;
        if (byzantine && byzantine.count > options.clients) {
          throw new InvalidArgumentError(
            `--byzantine ${byzantine.count} exceeds --clients ${options.clients}`,
          );
        }
        if (options.attesters !== undefined && options.proofs === false) {
          throw new InvalidArgumentError(
            "--attesters needs proofs: attested data is checked by the data-validity proof",
          );
        }
        let chain:
          | { rpcUrl: string; chainId?: number; registry?: string; privateKey: string }
          | undefined;
        if (options.rpcUrl) {
          chain = {
            rpcUrl: options.rpcUrl,
            chainId: options.chainId === undefined ? undefined : Number(options.chainId),
            registry: options.registry,
            privateKey: await readChainKey({ keyFile: options.keyFile }),
          };
        }
        const timing = demoTiming({
          chunks: Math.ceil(
            parameterCount(options.model, schema) / productionChunkSize(DEMO_QUANTIZATION_BITS),
          ),
          clients: options.clients,
          clientsPerRound: options.clientsPerRound,
          proofs: options.proofs !== false,
          deadline: options.deadline === undefined ? undefined : Number(options.deadline),
          enrolmentTimeout:
            options.enrolmentTimeout === undefined ? undefined : Number(options.enrolmentTimeout),
        });
        if (timing.note) progress(options, timing.note);
        const lr =
          options.lr === undefined ? (dataset === "synthetic" ? 0.1 : 0.05) : Number(options.lr);
        const result = await runDemo({
          signal: stop.signal,
          clients: options.clients,
          dataset,
          partition: options.partition,
          seed: options.seed,
          backend: options.backend as PreferredBackend,
          out: options.out ? path.resolve(options.out) : undefined,
          logLevel: options.logLevel,
          byzantine,
          chain,
          noChain: options.chain === false,
          web: options.web === false ? false : { port: options.webPort },
          attesters: options.attesters,
          onProgress: (line) => progress(options, line),
          spec: {
            name: `demo-${dataset}-${options.model}`,
            model: options.model,
            schema: { ...schema, featureShape: [...schema.featureShape] },
            rounds: options.rounds,
            clientsPerRound: options.clientsPerRound,
            // Ask a quarter more devices than needed and accept a round with three quarters of them.
            minClients: Math.max(1, Math.ceil(options.clientsPerRound * 0.75)),
            // Every simulated device is online before the first round, so sampling draws from all.
            minAvailableClients: options.clients,
            overSelection: 1.25,
            roundDeadlineSeconds: timing.deadline,
            enrolmentTimeoutSeconds: timing.enrolmentTimeout,
            clipNorm: options.clipNorm === undefined ? 5 : Number(options.clipNorm),
            training: { epochs: options.epochs ?? 1, batchSize: 32, learningRate: lr },
            seed: options.seed,
            proofs: options.proofs !== false,
            strategy: { name: options.strategy, params: {} },
            privacy: {
              noiseMultiplier: Number(options.dpNoise),
              delta: Number(options.dpDelta),
              population: /^[0-9]+$/.test(options.dpPopulation)
                ? Number(options.dpPopulation)
                : options.dpPopulation,
              epsilonBudget: Number(options.epsilonBudget),
              adaptiveClipQuantile: Number(options.adaptiveClip),
            },
          },
        });
        emit(
          options,
          result,
          () =>
            `${result.reason}\ndone in ${result.totalSeconds.toFixed(1)} s: final model ${result.finalModelHash} · test accuracy ${result.rounds.at(-1)?.testAccuracy.toFixed(4)}${options.out ? ` · written to ${options.out}` : ""}`,
        );
        process.exit(0);
      } catch (error) {
        reportError(error, options);
      }
    });
}

/** Seconds of proving a fleet process spends per selected device, with headroom for a busy machine. */
const FLEET_PROVE_SECONDS_PER_DEVICE = 15;

/** The demo's jobs keep the spec's default quantisation. */
const DEMO_QUANTIZATION_BITS = 16;

/**
 * CPU seconds one production UpdateNorm chunk proof takes on one core of this project's 2-core
 * reference machine (benchmarks/results/proofs.json: a pool of 2 proves a chunk every 2.75 s
 * quiet, 5.5 CPU-s), doubled: a deadline only bounds a round that goes wrong (a round whose
 * updates are all in closes at once), while one set too tight fails a whole proven run on a
 * machine that gets busier after the demo started.
 */
const CPU_SECONDS_PER_CHUNK = 11;

/**
 * The round deadline and enrolment timeout, when not given. A large fleet (run-demo.ts
 * FLEET_ABOVE) joins at 40 devices a second, under the job's Join rate limit, with a dataset
 * commitment and a signature per device; with proofs its selected devices (over-selected by a
 * quarter) queue for one prover per process, so a round lasts about as many proofs as a
 * process's share of them. A small demo's devices prove every chunk of their update on cores
 * they share, so a proven model of many chunks (mlp: 60 at 16 bits) needs a round of
 * devices × chunks × CPU seconds per chunk ÷ cores. The defaults grow to fit, and say so.
 */
function demoTiming(parameters: {
  /** UpdateNorm chunks per update at the demo's bits. */
  chunks: number;
  clients: number;
  clientsPerRound: number;
  proofs: boolean;
  deadline?: number;
  enrolmentTimeout?: number;
}): { deadline: number; enrolmentTimeout: number; note?: string } {
  const fleet = parameters.clients > FLEET_ABOVE;
  const cores = os.availableParallelism();
  const processes = Math.max(1, Math.min(cores, 4));
  // Devices asked per round (a quarter over), at most the fleet.
  const asked = Math.ceil(parameters.clientsPerRound * 1.25);
  const selected = Math.min(parameters.clients, asked);
  const perProcess = Math.ceil(asked / processes);
  // Proving is CPU-bound: on a machine already busy with other work, each proof takes longer.
  const busy = Math.max(1, (os.loadavg()[0] ?? 0) / cores);
  const proving = fleet
    ? {
        seconds: Math.ceil(perProcess * FLEET_PROVE_SECONDS_PER_DEVICE * busy),
        why: `${perProcess} proving devices per process × ${FLEET_PROVE_SECONDS_PER_DEVICE} s`,
      }
    : {
        seconds: Math.ceil(((selected * parameters.chunks * CPU_SECONDS_PER_CHUNK) / cores) * busy),
        why: `${selected} devices × ${parameters.chunks} proof chunks × ${CPU_SECONDS_PER_CHUNK} CPU-s ÷ ${cores} cores`,
      };
  const deadline =
    parameters.deadline ?? (parameters.proofs ? Math.max(300, proving.seconds) : 300);
  const enrolmentTimeout =
    parameters.enrolmentTimeout ??
    (fleet ? Math.max(300, Math.ceil(parameters.clients * 0.6)) : 300);
  const chosen = [
    parameters.deadline === undefined && deadline !== 300
      ? `round deadline ${deadline} s (${proving.why}${busy > 1 ? ` × ${busy.toFixed(1)} for the machine's load` : ""})`
      : "",
    parameters.enrolmentTimeout === undefined && enrolmentTimeout !== 300
      ? `enrolment timeout ${enrolmentTimeout} s (${parameters.clients} devices joining)`
      : "",
  ].filter(Boolean);
  return {
    deadline,
    enrolmentTimeout,
    ...(chosen.length > 0
      ? { note: `chose ${chosen.join(" and ")}; set --deadline / --enrolment-timeout to override` }
      : {}),
  };
}
