import { readFileSync } from "node:fs";
import { type Command, InvalidArgumentError, Option } from "commander";
import type { JobSpecInput } from "../../protocol/job/job-spec.js";
import { MODEL_PRESETS, STRATEGY_NAMES } from "../../protocol/job/job-spec.js";
import { int, num } from "./options.js";

/** Schemas of the built-in datasets, so a researcher can name one instead of spelling it out. */
export const DATASET_SCHEMAS = {
  synthetic: { featureShape: [16], min: 0, max: 1, classes: 4 },
  "fashion-mnist": { featureShape: [28, 28, 1], min: 0, max: 1, classes: 10 },
} as const;

export function addJobSpecOptions(
  command: Command,
  defaults: { rounds?: number; clientsPerRound?: number } = {},
): Command {
  return command
    .option("--spec <file.json>", "job spec as JSON (flags below override its fields)")
    .addOption(new Option("--model <preset>", "model preset").choices([...MODEL_PRESETS]))
    .option("--rounds <n>", "federated rounds", int("rounds", 1), defaults.rounds)
    .option(
      "--clients-per-round <n>",
      "verified updates that close a round",
      int("clients-per-round", 1),
      defaults.clientsPerRound,
    )
    .option(
      "--min-clients <n>",
      "fewest verified updates a round may aggregate",
      int("min-clients", 1),
    )
    .option(
      "--over-selection <x>",
      "devices asked per round = ceil(clients-per-round × x)",
      num("over-selection"),
    )
    .option("--deadline <seconds>", "round deadline", num("deadline"))
    .option("--epochs <n>", "local epochs", int("epochs", 1))
    .option("--batch-size <n>", "local batch size", int("batch-size", 1))
    .option("--lr <x>", "local learning rate", num("lr"))
    .option("--clip-norm <C>", "L2 clip bound of each update", num("clip-norm"))
    .option("--bits <n>", "quantisation bits", int("bits", 2))
    .addOption(new Option("--strategy <name>", "aggregation strategy").choices([...STRATEGY_NAMES]))
    .option("--job-seed <n>", "seed for the initial model and client sampling", int("job-seed"))
    .option(
      "--population <none|attested|N>",
      "population N of the DP sampling rate q = K/N: none (q = 1, the default), attested, or a declared count",
      parsePopulation,
    )
    .option(
      "--max-samples-per-device <n>",
      "cap on the sample count an update is weighted by",
      int("max-samples-per-device", 1),
    )
    .option(
      "--attester-set <file>",
      "accept only data signed by these attesters (`fedproof attester set`): the set's root enters the spec, so the chain pins it",
    );
}

type Population = NonNullable<NonNullable<JobSpecInput["privacy"]>["population"]>;

function parsePopulation(value: string): Population {
  if (value === "none" || value === "attested") return value;
  const declared = Number(value);
  if (!Number.isSafeInteger(declared) || declared < 1) {
    throw new InvalidArgumentError(
      "--population must be none, attested or a positive integer (the declared population)",
    );
  }
  return declared;
}

export interface JobSpecFlags {
  spec?: string;
  model?: string;
  rounds?: number;
  clientsPerRound?: number;
  minClients?: number;
  overSelection?: number;
  deadline?: number;
  epochs?: number;
  batchSize?: number;
  lr?: number;
  clipNorm?: number;
  bits?: number;
  strategy?: string;
  jobSeed?: number;
  population?: Population;
  maxSamplesPerDevice?: number;
  attesterSet?: string;
}

function defined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** A JobSpecInput from a spec file plus flags; validation happens once, in the coordinator. */
export function jobSpecFromFlags(
  flags: JobSpecFlags,
  base: Partial<JobSpecInput> = {},
): JobSpecInput {
  const fromFile = flags.spec
    ? (JSON.parse(readFileSync(flags.spec, "utf8")) as Partial<JobSpecInput>)
    : {};
  const merged = { ...base, ...fromFile } as JobSpecInput;
  return {
    ...merged,
    ...defined({
      model: flags.model as JobSpecInput["model"],
      rounds: flags.rounds,
      clientsPerRound: flags.clientsPerRound,
      minClients: flags.minClients,
      overSelection: flags.overSelection,
      roundDeadlineSeconds: flags.deadline,
      clipNorm: flags.clipNorm,
      seed: flags.jobSeed,
      maxSamplesPerDevice: flags.maxSamplesPerDevice,
      // Root, depth and keys as the file states them; the coordinator checks they agree.
      attesters: flags.attesterSet
        ? (JSON.parse(readFileSync(flags.attesterSet, "utf8")) as JobSpecInput["attesters"])
        : undefined,
    }),
    training: {
      ...merged.training,
      ...defined({ epochs: flags.epochs, batchSize: flags.batchSize, learningRate: flags.lr }),
    },
    quantization: { ...merged.quantization, ...defined({ bits: flags.bits }) },
    privacy: { ...merged.privacy, ...defined({ population: flags.population }) },
    strategy: flags.strategy
      ? {
          ...merged.strategy,
          name: flags.strategy as NonNullable<JobSpecInput["strategy"]>["name"],
        }
      : merged.strategy,
  };
}
