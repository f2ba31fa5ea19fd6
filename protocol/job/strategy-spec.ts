import { z } from "zod";

/**
 * The `strategy` field of a job spec. Every parameter has a default, so `{ name: "fedadam" }`
 * is a complete spec; the defaults are the values the cited papers (or Flower, where the
 * papers tune per task) start from.
 */

const unitInterval = z.number().min(0).lt(1);
const positive = z.number().positive().finite();

/** Server-side learning rate η: the global model moves by η × the aggregated direction. */
const serverLearningRate = (defaultValue: number) => positive.default(defaultValue);

/**
 * Reddi et al. 2021, "Adaptive Federated Optimization", Algorithm 2. Defaults: β₁ = 0.9,
 * β₂ = 0.99 and τ = 10⁻³ are the paper's fixed choices (its Section 5 / Appendix D);
 * η = 10⁻² sits in the middle of the server learning rates its grid search selected.
 */
const adaptiveParameters = {
  serverLearningRate: serverLearningRate(1e-2),
  beta1: unitInterval.default(0.9),
  beta2: unitInterval.default(0.99),
  /** Adaptivity τ: floors the denominator √v + τ, so that tiny v cannot blow up a step. */
  tau: positive.default(1e-3),
};

/** Byzantine f: how many of the n updates may be arbitrary. */
const byzantine = z.number().int().min(0).default(1);

export const strategySpecSchema = z.discriminatedUnion("name", [
  z.object({ name: z.literal("fedavg") }).strict(),
  /** Li et al. 2020: μ from their grid {0.001, 0.01, 0.1, 1}. */
  z.object({ name: z.literal("fedprox"), mu: z.number().min(0).finite().default(0.01) }).strict(),
  /** Hsu et al. 2019: server momentum β = 0.9 with η = 1 (plain FedAvg plus velocity). */
  z
    .object({
      name: z.literal("fedavgm"),
      serverLearningRate: serverLearningRate(1),
      momentum: unitInterval.default(0.9),
    })
    .strict(),
  z.object({ name: z.literal("fedadam"), ...adaptiveParameters }).strict(),
  z.object({ name: z.literal("fedyogi"), ...adaptiveParameters }).strict(),
  z.object({ name: z.literal("fedadagrad"), ...adaptiveParameters }).strict(),
  z.object({ name: z.literal("median") }).strict(),
  /** Yin et al. 2018: β is the fraction dropped at EACH end, so it must stay below ½. */
  z
    .object({ name: z.literal("trimmed-mean"), beta: z.number().min(0).lt(0.5).default(0.1) })
    .strict(),
  z.object({ name: z.literal("krum"), byzantine }).strict(),
  /** Blanchard et al. 2017: `selected` (m) defaults to n − f at aggregation time. */
  z
    .object({
      name: z.literal("multi-krum"),
      byzantine,
      selected: z.number().int().min(1).optional(),
    })
    .strict(),
]);

/** A validated strategy spec, defaults filled in. */
export type StrategySpec = z.output<typeof strategySpecSchema>;
/** What a job spec may contain before validation (parameters optional). */
export type StrategySpecInput = z.input<typeof strategySpecSchema>;
export type StrategyName = StrategySpec["name"];

export const STRATEGY_NAMES: readonly StrategyName[] = strategySpecSchema.options.map(
  (option) => option.shape.name.value,
);
