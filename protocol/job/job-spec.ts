import { sha256 } from "@noble/hashes/sha2";
import { bytesToHex, utf8ToBytes } from "@noble/hashes/utils";
import { z } from "zod";
import { InvalidArgumentError } from "../../common/errors.js";
import {
  STRATEGY_NAMES,
  type StrategyName,
  type StrategySpecInput,
  strategySpecSchema,
} from "./strategy-spec.js";

export const MODEL_PRESETS = ["logreg", "mlp", "cnn", "cnn-fedavg"] as const;
export { STRATEGY_NAMES };

const positiveInt = z.number().int().positive();

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
      })
      .prefault({}),
    minSamples: z.number().int().min(0).default(1),
    seed: z.number().int().min(0).default(0),
    enrolmentTimeoutSeconds: z.number().positive().default(300),
    proofs: z.boolean().default(false),
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
    if (
      spec.privacy.noiseMultiplier > 0 &&
      ["median", "trimmed-mean", "krum", "multi-krum"].includes(spec.strategy.name)
    ) {
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
    const maxQ = 2 ** (spec.quantization.bits - 1) - 1;
    const scale = spec.quantization.scale ?? spec.clipNorm / maxQ;
    // A clipped coordinate can be as large as C, so C/scale must fit the signed range
    // or quantisation would saturate silently and the update would no longer be Δ.
    if (spec.clipNorm / scale > maxQ + 1e-9) {
      context.addIssue({
        code: "custom",
        path: ["quantization", "scale"],
        message: `clipNorm/scale = ${(spec.clipNorm / scale).toFixed(1)} exceeds the ${spec.quantization.bits}-bit range ${maxQ}; raise scale or bits`,
      });
    }
  })
  .transform((spec) => {
    const maxQ = 2 ** (spec.quantization.bits - 1) - 1;
    const minClients = spec.minClients ?? Math.max(1, Math.ceil(spec.clientsPerRound / 2));
    return {
      ...spec,
      minClients,
      minAvailableClients: Math.max(minClients, spec.minAvailableClients ?? minClients),
      quantization: {
        ...spec.quantization,
        scale: spec.quantization.scale ?? spec.clipNorm / maxQ,
      },
    };
  });

export type JobSpecInput = z.input<typeof jobSpecSchema>;
export type JobSpec = z.output<typeof jobSpecSchema>;

/** Validates a job spec, naming the first offending field in the error: `spec.rounds: …`. */
export function parseJobSpec(input: unknown): JobSpec {
  const result = jobSpecSchema.safeParse(input);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const field = ["spec", ...issue.path.map(String)].join(".");
    throw new InvalidArgumentError(`invalid job spec: ${field}: ${issue.message}`, {
      details: result.error.issues
        .map((i) => `${["spec", ...i.path.map(String)].join(".")}: ${i.message}`)
        .join("; "),
    });
  }
  return result.data;
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
