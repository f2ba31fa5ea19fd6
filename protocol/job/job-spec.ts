import { sha256 } from "@noble/hashes/sha2";
import { bytesToHex, utf8ToBytes } from "@noble/hashes/utils";
import { z } from "zod";
import { InvalidArgumentError, quote } from "../../common/errors.js";
import { noiseProofParameters } from "../aggregation/noise-bound.js";
import { parameterCount } from "../model/parameter-count.js";
import { attesterSetFromJson } from "../proving/attester-set.js";
import { FIELD_MODULUS } from "../proving/field.js";
import { defaultQuantizationScale, maxQuantized } from "../update/quantize.js";
import {
  STRATEGY_NAMES,
  type StrategyName,
  type StrategySpec,
  type StrategySpecInput,
  strategySpecSchema,
} from "./strategy-spec.js";

export const MODEL_PRESETS = ["logreg", "mlp", "cnn", "cnn-fedavg"] as const;
export { STRATEGY_NAMES };

const positiveInt = z.number().int().positive();

/** A BN254 scalar field element in decimal, as public signals and attester files carry it. */
const fieldElement = z
  .string()
  .regex(/^[0-9]{1,78}$/, "must be a decimal field element")
  .refine((value) => BigInt(value) < FIELD_MODULUS, "must be below the BN254 scalar field modulus");

/**
 * The keys a job trusts to sign datasets (protocol/proving/attester-set.ts), pinned by their
 * Poseidon Merkle root: the root is in the spec, so the spec hash the chain registers pins it,
 * and every DataValidity proof of the job must show it. `keys` (the tree's leaves in order) is
 * optional: a job may publish only the root and hand the set to devices out of band.
 */
export const attestersSchema = z
  .object({
    root: fieldElement,
    /** The tree's depth: the job's DataValidity circuit is built with attesterDepth = depth. */
    depth: z.number().int().min(1).max(32),
    keys: z
      .array(z.object({ x: fieldElement, y: fieldElement }))
      .min(1)
      .optional(),
  })
  .superRefine((attesters, context) => {
    if (!attesters.keys) return;
    try {
      attesterSetFromJson({ depth: attesters.depth, root: attesters.root, keys: attesters.keys });
    } catch (error) {
      context.addIssue({ code: "custom", path: ["keys"], message: (error as Error).message });
    }
  });

export type AttestersSpec = z.output<typeof attestersSchema>;

/**
 * Longest timer a spec may set (the enrolment timeout): Node timers take at most 2³¹ − 1 ms
 * (≈ 24.8 days) and fire after 1 ms when given more, which failed the job at once.
 */
export const MAX_TIMER_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

/**
 * Default cap on a job's parameter count. A float32 vector of 5·10⁷ parameters is 200 MB;
 * building the initial model holds about three, and an aggregation one per update plus a
 * float64 sum, so a round of ~100 updates fits a 24 GiB coordinator. Operators with more
 * memory raise it (`maxParameters` of the coordinator, FEDPROOF_MAX_PARAMETERS).
 */
export const DEFAULT_MAX_PARAMETERS = 50_000_000;

/** What the coordinator allows beyond the spec's own rules. */
export interface JobSpecLimits {
  /** Largest parameter count a job's model may have; DEFAULT_MAX_PARAMETERS by default. */
  maxParameters?: number;
}

/** Strategies whose guarantee rests on a bound on the number of bad updates. */
const ROBUST_STRATEGIES = ["median", "trimmed-mean", "krum", "multi-krum"];

export const jobSpecSchema = z
  .object({
    name: z.string().max(200).default("job"),
    model: z.enum(MODEL_PRESETS).default("mlp"),
    schema: z.object({
      featureShape: z.array(positiveInt).min(1).max(4),
      min: z.number().finite(),
      max: z.number().finite(),
      classes: z.number().int().min(2).max(10_000),
    }),
    training: z
      .object({
        epochs: positiveInt.max(1000).default(1),
        batchSize: positiveInt.max(65_536).default(32),
        learningRate: z.number().positive().max(100).default(0.05),
        proximalMu: z.number().min(0).default(0),
        holdoutFraction: z.number().min(0).max(0.9).default(0.1),
      })
      .prefault({}),
    strategy: z
      .object({
        name: z.enum(STRATEGY_NAMES as [StrategyName, ...StrategyName[]]).default("fedavg"),
        params: z.record(z.string(), z.number().finite()).default({}),
      })
      .prefault({}),
    rounds: positiveInt.max(100_000).default(3),
    clientsPerRound: positiveInt.max(1_000_000).default(4),
    minClients: positiveInt.optional(),
    /** Devices that must be online before a round starts; defaults to minClients. */
    minAvailableClients: positiveInt.optional(),
    overSelection: z.number().min(1).max(10).default(1.25),
    roundDeadlineSeconds: z
      .number()
      .positive()
      .max(7 * 24 * 3600)
      .default(300),
    clipNorm: z.number().positive().finite().default(5),
    quantization: z
      .object({
        bits: z.number().int().min(2).max(32).default(16),
        scale: z.number().positive().finite().optional(),
        stochastic: z.boolean().default(false),
      })
      .prefault({}),
    privacy: z
      .object({
        noiseMultiplier: z.number().min(0).default(0),
        delta: z.number().gt(0).lt(1).default(1e-5),
        epsilonBudget: z.number().min(0).default(0),
        adaptiveClipQuantile: z.number().min(0).lt(1).default(0),
        /**
         * N in the accountant's sampling rate q = K/N (protocol/job/sampling-population.ts):
         * "none" for q = 1, "attested" for the devices with an attested dataset, or a
         * population the operator declares. Never the registered devices, which a sybil inflates.
         */
        population: z
          .union([z.literal("none"), z.literal("attested"), positiveInt])
          .default("none"),
      })
      .prefault({}),
    minSamples: z.number().int().min(0).default(1),
    /**
     * Cap on the sample count a device's update is weighted by: a device may claim any
     * count, and the weight of a sample-weighted mean must not be its to choose.
     */
    maxSamplesPerDevice: positiveInt.max(1_000_000_000).default(100_000),
    seed: z.number().int().min(0).default(0),
    enrolmentTimeoutSeconds: z.number().positive().max(MAX_TIMER_SECONDS).default(300),
    proofs: z.boolean().default(false),
    /**
     * k, the records each DataValidity proof opens (the circuit's `samples`): a dataset with a
     * fraction f of invalid records passes a round with probability (1 − f)^k
     * (protocol/proving/spot-check.ts). It picks the job's data-validity circuit.
     */
    dataSpotChecks: positiveInt.max(64).default(8),
    /**
     * s_0 of the job's challenge-seed chain (protocol/proving/challenge-seed.ts), hex. Filled in
     * by the coordinator when it creates the job, never by the researcher, so the spec hash the
     * chain anchors pins every round's seed before any device enrols.
     */
    challengeCommitment: z
      .string()
      .regex(/^[0-9a-f]{64}$/, "must be 64 lowercase hex digits")
      .optional(),
    /**
     * The attester set whose signature every dataset of the job must carry (attested data,
     * circuits/README.md); absent: devices attest their own data.
     */
    attesters: attestersSchema.optional(),
  })
  .superRefine((spec, context) => {
    // The strategy's own parameters are checked by its schema, so errors name e.g. spec.strategy.params.beta.
    const strategy = strategySpecSchema.safeParse(strategySpecOf(spec));
    if (!strategy.success) {
      for (const issue of strategy.error.issues) {
        context.addIssue({
          code: "custom",
          path: ["strategy", "params", ...issue.path.map(String)],
          message: issue.message,
        });
      }
    }
    if (spec.privacy.noiseMultiplier > 0 && ROBUST_STRATEGIES.includes(spec.strategy.name)) {
      context.addIssue({
        code: "custom",
        path: ["privacy", "noiseMultiplier"],
        message: `central DP noise is calibrated for a mean; ${spec.strategy.name} has no such sensitivity bound`,
      });
    }
    if (spec.schema.min >= spec.schema.max) {
      context.addIssue({
        code: "custom",
        path: ["schema", "max"],
        message: "must be greater than schema.min",
      });
    }
    if (spec.minClients !== undefined && spec.minClients > spec.clientsPerRound) {
      context.addIssue({
        code: "custom",
        path: ["minClients"],
        message: `must be at most clientsPerRound (${spec.clientsPerRound})`,
      });
    }
    if (
      (spec.model === "cnn" || spec.model === "cnn-fedavg") &&
      spec.schema.featureShape.length !== 3
    ) {
      context.addIssue({
        code: "custom",
        path: ["schema", "featureShape"],
        message: "the cnn preset needs an image shape [height, width, channels]",
      });
    }
    const { population } = spec.privacy;
    if (typeof population === "number" && population < spec.clientsPerRound) {
      context.addIssue({
        code: "custom",
        path: ["privacy", "population"],
        message: `a declared population must be at least clientsPerRound (${spec.clientsPerRound})`,
      });
    }
    if (spec.attesters && !spec.proofs) {
      context.addIssue({
        code: "custom",
        path: ["attesters"],
        message:
          "attested data is checked by the data-validity proof: a job with attesters needs proofs: true",
      });
    }
    if (spec.maxSamplesPerDevice < spec.minSamples) {
      context.addIssue({
        code: "custom",
        path: ["maxSamplesPerDevice"],
        message: `must be at least minSamples (${spec.minSamples})`,
      });
    }
    const maxQ = 2 ** (spec.quantization.bits - 1) - 1;
    const parameters = parameterCount(spec.model, spec.schema);
    const scale = spec.quantization.scale ?? quantizationScaleOf(spec);
    const ratio = spec.clipNorm / scale;
    // The devices clip every coordinate to ±maxQ·scale. A range narrower than C/√P, the mean
    // coordinate of a full-norm update, would clip nearly every coordinate and the update
    // would no longer be Δ. It also keeps (C/scale)² < maxQ²·P far below the 2^(2·bits+32)
    // the UpdateNorm circuit can compare c2 against.
    if (ratio > maxQ * Math.sqrt(Math.max(1, parameters)) * (1 + 1e-9)) {
      context.addIssue({
        code: "custom",
        path: ["quantization", "scale"],
        message: `the ${spec.quantization.bits}-bit range ±${maxQ}·scale = ±${(maxQ * scale).toPrecision(3)} is narrower than the mean coordinate C/√P = ${(spec.clipNorm / Math.sqrt(parameters)).toPrecision(3)} of a clipped update of ${parameters} parameters; raise scale or bits`,
      });
    }
    // A job with proofs proves its DP noise with a chunk circuit of at most 32-bit values
    // (noise-bound.ts): refused here, before any circuit is built, when the noise is wider.
    if (spec.proofs && spec.privacy.noiseMultiplier > 0) {
      try {
        noiseProofParameters(
          {
            privacy: spec.privacy,
            clipNorm: spec.clipNorm,
            quantization: { ...spec.quantization, scale },
          },
          Math.max(1, parameters),
        );
      } catch (error) {
        context.addIssue({
          code: "custom",
          path: ["privacy", "noiseMultiplier"],
          message: (error as InvalidArgumentError).shortMessage ?? String(error),
        });
      }
    }
    // The aggregate worker caps an adapted C at scale·maxQ, so an adaptive job needs the
    // per-coordinate range to hold all of C (the step C/maxQ).
    if (spec.privacy.adaptiveClipQuantile > 0 && ratio > maxQ * (1 + 1e-9)) {
      context.addIssue({
        code: "custom",
        path: ["quantization", "scale"],
        message: `adaptive clipping needs clipNorm/scale ≤ ${maxQ} (the coordinator caps C at scale·${maxQ}), got ${ratio.toFixed(1)}; raise scale or bits`,
      });
    }
  })
  .transform((spec) => {
    const minClients = defaultMinClients(spec);
    return {
      ...spec,
      minClients,
      minAvailableClients: Math.max(minClients, spec.minAvailableClients ?? minClients),
      quantization: {
        ...spec.quantization,
        scale: spec.quantization.scale ?? quantizationScaleOf(spec),
      },
    };
  });

/**
 * The default step (protocol/update/quantize.ts, defaultQuantizationScale): C/max(maxQ, √P),
 * or C/maxQ for a job with adaptive clipping, whose C may grow up to the range.
 */
function quantizationScaleOf(spec: {
  model: (typeof MODEL_PRESETS)[number];
  schema: { featureShape: number[]; classes: number };
  clipNorm: number;
  quantization: { bits: number };
  privacy: { adaptiveClipQuantile: number };
}): number {
  const { bits } = spec.quantization;
  if (spec.privacy.adaptiveClipQuantile > 0) return spec.clipNorm / maxQuantized(bits);
  return defaultQuantizationScale({
    clipNorm: spec.clipNorm,
    bits,
    parameterCount: parameterCount(spec.model, spec.schema),
  });
}

export type JobSpecInput = z.input<typeof jobSpecSchema>;
export type JobSpec = z.output<typeof jobSpecSchema>;

/**
 * Validates a job spec, naming the first offending field in the error: `spec.rounds: …`.
 * The model's size is checked against `limits` from the architecture alone, before any
 * weight is allocated.
 */
export function parseJobSpec(input: unknown, limits: JobSpecLimits = {}): JobSpec {
  const result = jobSpecSchema.safeParse(input);
  if (!result.success) {
    const issues = result.error.issues.map(
      (issue) => `${fieldName(issue.path)}: ${boundedMessage(issue.message)}`,
    );
    throw new InvalidArgumentError(`invalid job spec: ${issues[0]}`, {
      details: issues.slice(0, 10).join("; "),
    });
  }
  const spec = result.data;
  const robust = robustStrategyIssue(
    strategySpecSchema.parse(strategySpecOf(spec)),
    spec.minClients,
  );
  if (robust) {
    throw new InvalidArgumentError(
      `invalid job spec: spec.strategy.params.${robust.parameter}: ${robust.message}`,
    );
  }
  const maxParameters = limits.maxParameters ?? DEFAULT_MAX_PARAMETERS;
  const parameters = parameterCount(spec.model, spec.schema);
  if (parameters > maxParameters) {
    throw new InvalidArgumentError(
      `invalid job spec: spec.model: ${spec.model} on features [${spec.schema.featureShape.join(", ")}] has ${parameters.toLocaleString("en-US")} parameters, above this coordinator's maxParameters ${maxParameters.toLocaleString("en-US")}`,
      { details: "use fewer features or a smaller preset, or raise the coordinator's limit" },
    );
  }
  return spec;
}

/** `spec.a.b`, quoting (and cutting) path segments that are not plain names, e.g. record keys. */
function fieldName(path: readonly PropertyKey[]): string {
  return ["spec", ...path.map(String)]
    .map((segment) => (/^[A-Za-z0-9_-]{1,64}$/.test(segment) ? segment : quote(segment)))
    .join(".");
}

/** Issue messages may echo what was sent (an unrecognised key); keep them short. */
function boundedMessage(message: string): string {
  return message.length > 200 ? quote(message, 200) : message;
}

/** minClients as the transform fills it in: half of clientsPerRound, rounded up. */
function defaultMinClients(spec: { minClients?: number; clientsPerRound: number }): number {
  return spec.minClients ?? Math.max(1, Math.ceil(spec.clientsPerRound / 2));
}

/**
 * A robust rule's parameters must hold for the smallest round it may aggregate: a round
 * closes with as few as minClients updates, and a rule that cannot run on them would fail
 * only after the devices trained. Checked when a job is created, not in the schema, so
 * that the verifier still reads the specs of jobs created before the check existed.
 */
function robustStrategyIssue(
  strategy: StrategySpec,
  minClients: number,
): { parameter: string; message: string } | undefined {
  const issue = (parameter: string, message: string) => ({ parameter, message });
  const fewest = `a round may aggregate as few as minClients = ${minClients} updates`;
  if (strategy.name === "krum" || strategy.name === "multi-krum") {
    const needed = 2 * strategy.byzantine + 3;
    if (minClients < needed) {
      return issue(
        "byzantine",
        `Krum with byzantine = ${strategy.byzantine} needs at least 2f + 3 = ${needed} updates per round, but ${fewest}`,
      );
    } else if (
      strategy.name === "multi-krum" &&
      strategy.selected !== undefined &&
      strategy.selected > minClients - strategy.byzantine
    ) {
      return issue(
        "selected",
        `Multi-Krum selects at most n − f updates; ${fewest}, so selected may be at most ${minClients - strategy.byzantine}`,
      );
    }
  }
  if (strategy.name === "trimmed-mean" && strategy.beta > 0) {
    if (Math.floor(strategy.beta * minClients) < 1) {
      return issue(
        "beta",
        `trims ⌊beta·n⌋ updates from each end, none when ${fewest}: the rule would be a plain mean; raise beta to at least 1/minClients or raise minClients`,
      );
    }
  }
  return undefined;
}

/** Canonical JSON (sorted keys) so the same spec always hashes the same. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

export function specHash(spec: JobSpec): string {
  return bytesToHex(sha256(utf8ToBytes(canonicalJson(spec))));
}

/** The job's strategy in the form its schema and `createStrategy` take: `{ name, ...params }`. */
export function strategySpecOf(spec: Pick<JobSpec, "strategy">): StrategySpecInput {
  return { name: spec.strategy.name, ...spec.strategy.params } as StrategySpecInput;
}
