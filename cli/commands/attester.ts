/**
 * `fedproof attester keygen|sign|set`: the data-provider side of attested data. A sensor or
 * provider holds a Baby Jubjub key, signs the commitment Poseidon(root, count) of the dataset
 * it measured, and a job pins the set of trusted keys by its Merkle root. The device that
 * trains later proves, without naming the attester, that one of them signed its dataset.
 */
import { readFile, writeFile } from "node:fs/promises";
import type { Command } from "commander";
import { DEFAULT_SPOT_CHECKS } from "../../circuits/circuit-catalog.js";
import { loadCsvDataset } from "../../client/node/csv-dataset.js";
import { loadSimulatedPartition, parseDatasetName } from "../../client/node/simulated-data.js";
import { InvalidArgumentError } from "../../common/errors.js";
import { FEATURE_BITS } from "../../coordinator/jobs/job-circuits.js";
import type { Dataset } from "../../protocol/data/dataset.js";
import {
  attestDataset,
  attesterSetToJson,
  buildAttesterSet,
  datasetAttestationToJson,
} from "../../protocol/proving/attester-set.js";
import {
  type DataValidityParameters,
  DEFAULT_ATTESTER_DEPTH,
} from "../../protocol/proving/data-validity-parameters.js";
import { datasetTree, encodeDataset } from "../../protocol/proving/dataset-commitment.js";
import {
  type BabyJubjubPublicKey,
  derivePublicKey,
  randomPrivateKey,
} from "../../protocol/proving/eddsa-poseidon.js";
import { featureScaleFor } from "../../protocol/proving/feature-scale.js";
import { parseFieldElement } from "../../protocol/proving/field.js";
import { emit, reportError } from "../output.js";
import { int, num, withCommon } from "./options.js";

/** An attester key file: the private key (hex) and, for convenience, its public key. */
interface AttesterKeyFile {
  privateKey?: string;
  publicKey: { x: string; y: string };
}

function publicKeyJson(key: BabyJubjubPublicKey) {
  return { x: key.x.toString(), y: key.y.toString() };
}

async function readKeyFile(file: string): Promise<AttesterKeyFile> {
  let json: AttesterKeyFile;
  try {
    json = JSON.parse(await readFile(file, "utf8")) as AttesterKeyFile;
  } catch (error) {
    throw new InvalidArgumentError(`${file} is not an attester key file (JSON)`, { cause: error });
  }
  if (!json?.publicKey?.x || !json.publicKey.y) {
    throw new InvalidArgumentError(`${file} has no publicKey {x, y}`);
  }
  return json;
}

async function readPrivateKey(file: string): Promise<Uint8Array> {
  const json = await readKeyFile(file);
  if (!json.privateKey || !/^[0-9a-f]{64}$/i.test(json.privateKey)) {
    throw new InvalidArgumentError(`${file} holds no private key (64 hex characters)`);
  }
  const key = new Uint8Array(Buffer.from(json.privateKey, "hex"));
  const derived = derivePublicKey(key);
  if (derived.x.toString() !== json.publicKey.x || derived.y.toString() !== json.publicKey.y) {
    throw new InvalidArgumentError(`${file}: the public key does not belong to the private key`);
  }
  return key;
}

async function readPublicKey(file: string): Promise<BabyJubjubPublicKey> {
  const { publicKey } = await readKeyFile(file);
  return {
    x: parseFieldElement(publicKey.x, `${file} publicKey.x`),
    y: parseFieldElement(publicKey.y, `${file} publicKey.y`),
  };
}

async function writeNew(file: string, text: string, mode?: number): Promise<void> {
  try {
    await writeFile(file, text, { mode, flag: "wx" });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") {
      throw new InvalidArgumentError(`${file} exists; refusing to overwrite it`);
    }
    throw error;
  }
}

interface SignOptions {
  key: string;
  dataset?: string;
  simulate?: string;
  partition: string;
  clients: number;
  index: number;
  seed: number;
  min?: number;
  max?: number;
  depth: number;
  featureBits: number;
  out?: string;
  json?: boolean;
}

/** The records the attester vouches for, from a CSV file or a simulated device's share. */
async function loadRecords(options: SignOptions): Promise<Dataset> {
  if (options.dataset && options.simulate) {
    throw new InvalidArgumentError(
      "give either --dataset FILE.csv or --simulate DATASET, not both",
    );
  }
  if (options.dataset) return loadCsvDataset(options.dataset);
  if (options.simulate) {
    return loadSimulatedPartition({
      dataset: parseDatasetName(options.simulate),
      partition: options.partition,
      clients: options.clients,
      index: options.index,
      seed: options.seed,
    });
  }
  throw new InvalidArgumentError("give the records with --dataset FILE.csv, or --simulate DATASET");
}

export function registerAttesterCommand(program: Command): void {
  const attester = program
    .command("attester")
    .description(
      "attested data: a data provider's key, its signature over a dataset, a job's set of trusted keys",
    );

  withCommon(attester.command("keygen"))
    .description("create an attester's Baby Jubjub key (file mode 600, never overwritten)")
    .requiredOption("--out <file>", "key file to write (JSON: privateKey hex, publicKey)")
    .action(async (options: { out: string; json?: boolean }) => {
      try {
        const privateKey = randomPrivateKey();
        const publicKey = publicKeyJson(derivePublicKey(privateKey));
        const file: AttesterKeyFile = {
          privateKey: Buffer.from(privateKey).toString("hex"),
          publicKey,
        };
        await writeNew(options.out, `${JSON.stringify(file, null, 2)}\n`, 0o600);
        emit(options, { out: options.out, publicKey }, () =>
          [
            `attester key written to ${options.out}`,
            `public key x ${publicKey.x}`,
            `           y ${publicKey.y}`,
          ].join("\n"),
        );
      } catch (error) {
        reportError(error, options);
      }
    });

  withCommon(attester.command("sign"))
    .description(
      "sign a dataset's commitment Poseidon(root, records) as an attester: the records must be encoded as the job encodes them (its schema bounds, tree depth, feature bits)",
    )
    .requiredOption("--key <file>", "the attester's key file (from `attester keygen`)")
    .option("--dataset <file.csv>", "the records: label first, then features, one per line")
    .option("--simulate <dataset>", "or a simulated device's records: synthetic | fashion-mnist")
    .option("--partition <spec>", "with --simulate: iid | dirichlet:ALPHA", "iid")
    .option("--clients <n>", "with --simulate: simulated devices", int("clients", 1), 1)
    .option("--index <i>", "with --simulate: which device", int("index"), 0)
    .option("--seed <n>", "with --simulate: partition seed", int("seed"), 0)
    .option("--min <x>", "the job schema's feature minimum (default: the dataset's)", num("min"))
    .option("--max <x>", "the job schema's feature maximum (default: the dataset's)", num("max"))
    .option("--depth <n>", "the job's record tree depth", int("depth", 1), 16)
    .option("--feature-bits <n>", "bits per stored feature", int("feature-bits", 1), FEATURE_BITS)
    .option("--out <file>", "write the attestation here (JSON)")
    .action(async (options: SignOptions) => {
      try {
        const privateKey = await readPrivateKey(options.key);
        const data = await loadRecords(options);
        const schema = {
          ...data.schema,
          min: options.min ?? data.schema.min,
          max: options.max ?? data.schema.max,
        };
        const featureScale = featureScaleFor(schema, options.featureBits);
        const features = data.x.length / data.size;
        // Only depth, features and featureBits enter the commitment; the rest names a circuit.
        const parameters: DataValidityParameters = {
          depth: options.depth,
          features,
          samples: DEFAULT_SPOT_CHECKS,
          featureBits: options.featureBits,
          labelBits: 8,
          attesterDepth: DEFAULT_ATTESTER_DEPTH,
        };
        const records = encodeDataset(data, {
          featureScale,
          min: schema.min,
          max: schema.max,
        });
        const { tree, sampleCount } = datasetTree({ parameters, records });
        const attestation = attestDataset({ privateKey, root: tree.root, sampleCount });
        const json = {
          ...datasetAttestationToJson(attestation, { root: tree.root, sampleCount }),
          encoding: { featureScale, min: schema.min, max: schema.max },
          depth: options.depth,
          featureBits: options.featureBits,
          features,
        };
        if (options.out) await writeNew(options.out, `${JSON.stringify(json, null, 2)}\n`);
        emit(options, json, () =>
          [
            `signed ${sampleCount} records (${features} features, depth ${options.depth}, schema [${schema.min}, ${schema.max}])`,
            `dataset commitment ${json.datasetCommitment}`,
            options.out ? `attestation written to ${options.out}` : JSON.stringify(json),
          ].join("\n"),
        );
      } catch (error) {
        reportError(error, options);
      }
    });

  withCommon(attester.command("set"))
    .description("the attester set a job trusts: the keys in order and their Merkle root")
    .requiredOption("--keys <files>", "comma-separated attester key files (public keys suffice)")
    .option(
      "--depth <n>",
      "attester tree depth (the DataValidity circuit's attesterDepth)",
      int("depth", 1),
      DEFAULT_ATTESTER_DEPTH,
    )
    .requiredOption("--out <file>", "write the set here (JSON: depth, root, keys)")
    .action(async (options: { keys: string; depth: number; out: string; json?: boolean }) => {
      try {
        const files = options.keys.split(",").filter((f) => f.length > 0);
        const keys = await Promise.all(files.map(readPublicKey));
        const set = attesterSetToJson(buildAttesterSet({ keys, depth: options.depth }));
        await writeNew(options.out, `${JSON.stringify(set, null, 2)}\n`);
        emit(
          options,
          { out: options.out, ...set },
          () =>
            `attester set of ${keys.length} keys (depth ${set.depth}) written to ${options.out}\nroot ${set.root}`,
        );
      } catch (error) {
        reportError(error, options);
      }
    });
}
