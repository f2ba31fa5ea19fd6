import { InvalidArgumentError } from "../../common/errors.js";
import {
  type StrategySpec,
  type StrategySpecInput,
  strategySpecSchema,
} from "../../protocol/job/strategy-spec.js";
import { createFedAdagradStrategy } from "./fed-adagrad.js";
import { createFedAdamStrategy } from "./fed-adam.js";
import { createFedAvgMStrategy } from "./fed-avg-m.js";
import { createFedAvgStrategy } from "./fed-avg-strategy.js";
import { createFedProxStrategy } from "./fed-prox.js";
import { createFedYogiStrategy } from "./fed-yogi.js";
import { createKrumStrategy } from "./krum.js";
import { createMedianStrategy } from "./median.js";
import { createTrimmedMeanStrategy } from "./trimmed-mean.js";
import type { Strategy } from "./types.js";

/**
 * The strategy a job spec names. The spec is validated again here (defaults filled in), so
 * a hand-built or stale spec fails with InvalidArgumentError rather than producing NaNs.
 */
export function createStrategy(spec: StrategySpec | StrategySpecInput): Strategy {
  const parsed = strategySpecSchema.safeParse(spec);
  if (!parsed.success) {
    throw new InvalidArgumentError("invalid strategy spec", {
      details: parsed.error.issues
        .map((issue) => `${issue.path.join(".") || "strategy"}: ${issue.message}`)
        .join("; "),
      cause: parsed.error,
    });
  }
  const valid = parsed.data;
  switch (valid.name) {
    case "fedavg":
      return createFedAvgStrategy();
    case "fedprox":
      return createFedProxStrategy(valid);
    case "fedavgm":
      return createFedAvgMStrategy(valid);
    case "fedadam":
      return createFedAdamStrategy(valid);
    case "fedyogi":
      return createFedYogiStrategy(valid);
    case "fedadagrad":
      return createFedAdagradStrategy(valid);
    case "median":
      return createMedianStrategy();
    case "trimmed-mean":
      return createTrimmedMeanStrategy(valid);
    case "krum":
      return createKrumStrategy("krum", valid);
    case "multi-krum":
      return createKrumStrategy("multi-krum", valid);
  }
}
