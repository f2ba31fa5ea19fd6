import { readFile, writeFile } from "node:fs/promises";
import type { Command } from "commander";
import { Option } from "commander";
import {
  applyAttack,
  BYZANTINE_ATTACKS,
  type ByzantineAttack,
} from "../../client/core/byzantine.js";
import type { PreferredBackend } from "../../client/node/backend.js";
import { loadCsvDataset } from "../../client/node/csv-dataset.js";
import { Device } from "../../client/node/device.js";
import { loadSimulatedPartition, parseDatasetName } from "../../client/node/simulated-data.js";
import { prepareTrainingBackend } from "../../client/node/training-backend.js";
import { InvalidArgumentError } from "../../common/errors.js";
import type { Dataset } from "../../protocol/data/dataset.js";
import { parseModelPreset } from "../../protocol/model/presets.js";
import {
  type AttesterSet,
  type AttesterSetJson,
  attesterSetFromJson,
  type DatasetAttestation,
  type DatasetAttestationJson,
  datasetAttestationFromJson,
} from "../../protocol/proving/attester-set.js";
import { randomPrivateKey } from "../../protocol/proving/eddsa-poseidon.js";
import { createRng } from "../../protocol/random.js";
import { createLogger, emit, reportError } from "../output.js";
import {
  channelCredentialsOf,
  coordinatorOf,
  int,
  withCommon,
  withCoordinatorAddress,
} from "./options.js";

export function registerClientCommand(program: Command): void {
  withCoordinatorAddress(withCommon(program.command("client")))
    .description(
      "run a device: join a job, train on local data each round, upload clipped, quantised updates (with zero-knowledge proofs when the job requires them)",
    )
    .requiredOption("--job <id>", "job to join")
    .option("--device-id <id>", "stable device id (default: assigned by the coordinator)")
    .option("--data <file.csv>", "local records: label first, then features, one record per line")
    .option(
      "--simulate <dataset>",
      "simulate a device on a public dataset instead: synthetic | fashion-mnist",
    )
    .option("--partition <spec>", "with --simulate: iid | dirichlet:ALPHA", "iid")
    .option(
      "--clients <n>",
      "with --simulate: number of simulated devices sharing the dataset",
      int("clients", 1),
      1,
    )
    .option("--index <i>", "with --simulate: which device of --clients this is", int("index"), 0)
    .option("--seed <n>", "seed for data order and partitions", int("seed"), 0)
    .option("--model <preset>", "model preset, to choose a backend that can train it", "mlp")
    .addOption(
      new Option("--backend <name>", "tfjs backend")
        .choices(["auto", "tensorflow", "wasm", "cpu"])
        .default("auto"),
    )
    .option(
      "--key-file <file>",
      "the device's Baby Jubjub key, which its device id is bound to in every job: read if it exists, else created (mode 600); default: a fresh key per run",
    )
    .option(
      "--payout-address <0x…>",
      "EVM address credited for this device's contributions (fixed at the first Join)",
    )
    .option(
      "--attestation <file>",
      "an attester's signature over this device's records (`fedproof attester sign`): the device proves in attested mode when the job names attesters",
    )
    .option(
      "--attester-set <file>",
      "the job's attester set (`fedproof attester set`), when the job's spec pins only its root",
    )
    .option(
      "--reconnect-attempts <n>",
      "reconnect attempts in a row (exponential backoff with jitter, cycling through the --coordinator list a:1,b:2) before the device gives up",
      int("reconnect-attempts"),
      20,
    )
    .option(
      "--reconnect-for <seconds>",
      "give up reconnecting once no attempt has succeeded for this long",
      int("reconnect-for", 1),
      120,
    )
    .addOption(
      new Option(
        "--attack <kind>",
        "simulate a malicious device within the clip bound (robustness studies)",
      ).choices([...BYZANTINE_ATTACKS]),
    )
    .action(async (options) => {
      const logger = createLogger(options, "warn");
      try {
        const backend = await prepareTrainingBackend(
          parseModelPreset(options.model),
          options.backend as PreferredBackend,
        );
        logger.info(backend, "tfjs backend");
        let data: Dataset;
        if (options.data) data = await loadCsvDataset(options.data);
        else if (options.simulate) {
          data = await loadSimulatedPartition({
            dataset: parseDatasetName(options.simulate),
            partition: options.partition,
            clients: options.clients,
            index: options.index,
            seed: options.seed,
          });
        } else
          throw new InvalidArgumentError(
            "give the device's records with --data FILE.csv, or --simulate DATASET",
          );
        const device = new Device({
          address: coordinatorOf(options),
          credentials: channelCredentialsOf(options),
          jobId: options.job,
          deviceId: options.deviceId,
          data,
          seed: options.seed * 1000 + options.index,
          backend: backend.backend,
          logger,
          privateKey: options.keyFile ? await deviceKey(options.keyFile) : undefined,
          payoutAddress: options.payoutAddress,
          ...(options.attestation && { attestation: await readAttestation(options.attestation) }),
          ...(options.attesterSet && { attesterSet: await readAttesterSet(options.attesterSet) }),
          reconnect: { attempts: options.reconnectAttempts, forMs: options.reconnectFor * 1000 },
          tamper: options.attack
            ? (delta, clipNorm) =>
                applyAttack(delta, options.attack as ByzantineAttack, {
                  clipNorm,
                  rng: createRng(options.seed * 7919 + options.index),
                })
            : undefined,
        });
        const result = await device.run();
        emit(options, { ...result, backend: backend.backend }, () =>
          [
            `device ${result.deviceId}: job ended ${result.jobState.replace("JOB_STATE_", "").toLowerCase()} (${result.reason})`,
            ...result.rounds.map(
              (r) =>
                `  round ${r.round}: ${r.accepted === undefined ? "uploaded" : r.accepted ? "accepted" : `refused: ${r.reason}`}, train loss ${r.trainLoss.toFixed(4)}, held-out accuracy of the global model ${r.holdoutAccuracy.toFixed(4)}${r.proveSeconds > 0 ? `, proven in ${r.proveSeconds.toFixed(1)} s` : ""}`,
            ),
          ].join("\n"),
        );
        process.exit(result.jobState === "JOB_STATE_COMPLETED" ? 0 : 2);
      } catch (error) {
        reportError(error, options);
      }
    });
}

async function readJson<T>(file: string, what: string): Promise<T> {
  try {
    return JSON.parse(await readFile(file, "utf8")) as T;
  } catch (error) {
    throw new InvalidArgumentError(`${file} is not ${what} (JSON)`, { cause: error });
  }
}

/** An attestation file; its signature is checked against the device's records before Join. */
async function readAttestation(file: string): Promise<DatasetAttestation> {
  const json = await readJson<DatasetAttestationJson>(file, "an attestation");
  return datasetAttestationFromJson(json).attestation;
}

/** An attester set file; the keys must hash to the root it states. */
async function readAttesterSet(file: string): Promise<AttesterSet> {
  return attesterSetFromJson(await readJson<AttesterSetJson>(file, "an attester set"));
}

/**
 * A device keeps its key across runs: the coordinator binds a device id to the key it first
 * enrolled with, so a restarted device with a fresh key would be refused.
 */
async function deviceKey(file: string): Promise<Uint8Array> {
  try {
    const hex = (await readFile(file, "utf8")).trim();
    if (!/^[0-9a-f]{64}$/i.test(hex)) {
      throw new InvalidArgumentError(`${file} must hold a 32-byte key as 64 hex characters`);
    }
    return new Uint8Array(Buffer.from(hex, "hex"));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    const key = randomPrivateKey();
    await writeFile(file, `${Buffer.from(key).toString("hex")}\n`, { mode: 0o600, flag: "wx" });
    return key;
  }
}
