import { type ConnectionOptions, type Job, UnrecoverableError, Worker } from "bullmq";
import type { Logger } from "pino";
import { failpoint } from "../../common/failpoints.js";
import type { WeightedUpdate } from "../../protocol/aggregation/exact-aggregate.js";
import { isLinearStrategySpec } from "../../protocol/aggregation/linear-strategies.js";
import { noiseProofParameters } from "../../protocol/aggregation/noise-bound.js";
import { aggregationWeight } from "../../protocol/job/aggregation-weight.js";
import { strategySpecOf } from "../../protocol/job/job-spec.js";
import { type StrategySpec, strategySpecSchema } from "../../protocol/job/strategy-spec.js";
import { decodeModel, encodeModel } from "../../protocol/model/weights.js";
import { parseUpdateNormSignals } from "../../protocol/proofs/public-signals.js";
import {
  decodeUpdate,
  dequantize,
  maxQuantized,
  squaredNormQuantized,
} from "../../protocol/update/quantize.js";
import { FedproofError } from "../errors.js";
import { loadJobSrs } from "../jobs/job-srs.js";
import {
  adaptClipNorm,
  belowClipIndicator,
  updateNoiseMultiplier,
} from "../privacy/adaptive-clipping.js";
import { epsilonAfterRounds } from "../privacy/job-epsilon.js";
import { createNoiseSource } from "../privacy/noise-source.js";
import { type ProveNoiseReturnType, proveNoise } from "../privacy/prove-noise.js";
import type { ArtifactStore } from "../store/artifact-store.js";
import type { ContributionRecord, JobStore } from "../store/job-store.js";
import {
  type AggregateJobData,
  type AggregateJobResult,
  bullPrefix,
  lockSettings,
  QUEUE_NAMES,
} from "../workers/queues.js";
import { aggregateBlinding } from "./aggregate-blinding.js";
import { createStrategy } from "./create-strategy.js";
import { type AggregateExactlyReturnType, aggregateExactly } from "./exact-round.js";
import { decodeStrategyState, encodeStrategyState } from "./strategy-state-codec.js";
import type { AggregateReturnType, ClientUpdate } from "./types.js";

export interface AggregateDependencies {
  store: JobStore;
  artifacts: ArtifactStore;
  logger: Logger;
}

/** Update files read at once while aggregating: a thousand reads one after the other took most of a second. */
const READ_AHEAD = 16;

/**
 * `read(i)` for i = 0 … count − 1 in order, each started up to READ_AHEAD reads before it is
 * asked for; only that window is held, so memory stays what reading one by one would take.
 */
function readAhead(
  count: number,
  read: (i: number) => Promise<Uint8Array>,
): (i: number) => Promise<Uint8Array> {
  const started = new Map<number, Promise<Uint8Array>>();
  let next = 0;
  return (i) => {
    while (next < Math.min(count, i + READ_AHEAD)) {
      const reading = read(next);
      // Awaited in turn below; a read that fails after an earlier failure ended the loop is
      // not an unhandled rejection.
      reading.catch(() => {});
      started.set(next++, reading);
    }
    const reading = started.get(i)!;
    started.delete(i);
    return reading;
  };
}

/**
 * Folds a closed round's verified updates into the next global model with the job's
 * strategy, adding central DP noise when the job asks for it. Linear strategies (FedAvg and the
 * server optimisers) go through the exact aggregate S = Σ wᵢ·qᵢ and the binary32 rule of
 * protocol/aggregation, store S as an artifact and name it in the round's `aggregateHash`, so
 * that a verifier can replay the model bit for bit; robust rules keep the float path and leave
 * `aggregateHash` "". Idempotent: the inputs are fixed once the round left OPEN, outputs are
 * stored by content hash, and the round's state is left to the round engine, so a worker killed
 * half-way leaves nothing a retry could trip over.
 */
export async function aggregateRound(
  dependencies: AggregateDependencies,
  data: AggregateJobData,
): Promise<AggregateJobResult> {
  const { store, artifacts, logger } = dependencies;
  const job = await store.getJob(data.jobId);
  const round = await store.getRound(data.jobId, data.round);
  if (round.state !== "AGGREGATING") {
    if (round.modelHash) {
      return {
        jobId: data.jobId,
        round: data.round,
        modelHash: round.modelHash,
        contributors: round.accepted,
        strategyStateHash: job.strategyStateHash,
        epsilon: round.epsilon,
        nextClipNorm: round.clipNorm,
      };
    }
    throw new UnrecoverableError(
      `round ${data.round} of job ${data.jobId} is ${round.state}, not AGGREGATING`,
    );
  }
  const contributions = await store.contributions(data.jobId, data.round);
  if (contributions.length === 0) {
    throw new UnrecoverableError(
      `round ${data.round} of job ${data.jobId} has no verified updates`,
    );
  }
  const global = decodeModel(await artifacts.get(round.globalModelHash), job.paramCount);
  const { spec } = job;
  let strategySpec: StrategySpec;
  try {
    strategySpec = strategySpecSchema.parse(strategySpecOf(spec));
  } catch (error) {
    throw new UnrecoverableError(
      `job ${data.jobId} has an invalid strategy spec: ${String(error)}`,
    );
  }
  const exact = isLinearStrategySpec(strategySpec);
  const updates: ClientUpdate[] = [];
  const quantized: WeightedUpdate[] = [];
  const circuits = job.spec.proofs ? await store.loadJobCircuits(data.jobId) : undefined;
  const chunkCircuitId = circuits?.updateNorm.id;
  const squaredNorms: bigint[] = [];
  const reads = readAhead(contributions.length, (i) => artifacts.get(contributions[i]!.updateHash));
  for (const [i, contribution] of contributions.entries()) {
    const q = decodeUpdate(await reads(i), contribution.bits, job.paramCount);
    squaredNorms.push(establishedSquaredNorm(contribution, q, chunkCircuitId));
    // Enrolled (with proofs: proven) samples, capped: never the upload header's count.
    const weight = aggregationWeight(contribution.samples, job.spec);
    if (exact) {
      quantized.push({ id: contribution.deviceId, q, weight });
    } else {
      updates.push({
        deviceId: contribution.deviceId,
        delta: dequantize(q, job.spec.quantization.scale),
        weight,
      });
    }
  }
  const state = job.strategyStateHash
    ? decodeStrategyState(await artifacts.get(job.strategyStateHash))
    : undefined;
  await failpoint("aggregate-after-load");

  const privacy = spec.privacy;
  const dp = privacy.noiseMultiplier > 0;
  // A job with proofs proves its noise's norm against the bound its spec fixes.
  const noiseBound =
    dp && circuits && exact ? noiseProofParameters(spec, job.paramCount).c2 : undefined;
  // The published model minus predictable noise is the exact sum of the updates: the noise
  // comes from a CSPRNG keyed by the OS for this aggregation, never from the job seed.
  const noiseRng = createNoiseSource();
  const clipNorm = round.clipNorm || spec.clipNorm;
  const adaptive = privacy.adaptiveClipQuantile > 0;
  const countNoiseStddev = dp ? spec.clientsPerRound / 20 : 0;
  const privacyParameters = dp
    ? {
        clipNorm,
        // With adaptive clipping part of the budget goes to the noised clipped-count.
        noiseMultiplier: adaptive
          ? updateNoiseMultiplier({
              noiseMultiplier: privacy.noiseMultiplier,
              countNoiseStddev,
            })
          : privacy.noiseMultiplier,
        rng: noiseRng,
        // Fixed denominator (McMahan et al. 2018): the expected number per round.
        denominator: spec.clientsPerRound,
      }
    : undefined;

  let result: AggregateReturnType;
  let exactResult: AggregateExactlyReturnType | undefined;
  try {
    if (isLinearStrategySpec(strategySpec)) {
      // The exact aggregate and the binary32 rule: what `fedproof verify` replays.
      exactResult = aggregateExactly({
        strategy: strategySpec,
        global,
        updates: quantized,
        scale: spec.quantization.scale,
        state,
        privacy: privacyParameters,
        ...(noiseBound === undefined ? {} : { noiseBound }),
      });
      result = exactResult;
    } else {
      result = createStrategy(strategySpec).aggregate({
        global,
        updates,
        state,
        round: data.round,
        privacy: privacyParameters,
      });
    }
  } catch (error) {
    // Bad inputs or parameters will be just as bad on the next attempt.
    if (
      error instanceof FedproofError &&
      error.code !== "INTERNAL" &&
      error.code !== "UNAVAILABLE"
    ) {
      throw new UnrecoverableError(error.shortMessage);
    }
    throw error;
  }

  let nextClipNorm = clipNorm;
  if (adaptive) {
    nextClipNorm = adaptClipNorm({
      clipNorm,
      // From the updates as received, never the devices' reported updateNorm metric.
      belowClip: squaredNorms.map((squaredNormQ) =>
        belowClipIndicator({
          squaredNormQ,
          scale: spec.quantization.scale,
          clipNorm,
          paramCount: job.paramCount,
        }),
      ),
      targetQuantile: privacy.adaptiveClipQuantile,
      countNoiseStddev,
      denominator: spec.clientsPerRound,
      rng: noiseRng,
    }).clipNorm;
    // C may not outgrow what the job's fixed-point range can carry without saturating.
    nextClipNorm = Math.min(
      nextClipNorm,
      spec.quantization.scale * maxQuantized(spec.quantization.bits),
    );
  }

  const { hash } = await artifacts.put(encodeModel(result.model));
  const strategyStateHash = result.state
    ? (await artifacts.put(encodeStrategyState(result.state))).hash
    : "";
  if (exactResult) await artifacts.put(exactResult.artifact);
  const epsilon = dp ? await epsilonAfterRounds(store, job, data.round) : 0;
  let noise: ProveNoiseReturnType | undefined;
  if (exactResult?.noise && noiseBound !== undefined && circuits) {
    if (!circuits.noiseNorm) {
      throw new UnrecoverableError(
        `job ${data.jobId} adds central-DP noise with proofs, but its circuits have no noise circuit`,
      );
    }
    noise = await proveNoise({
      noise: exactResult.noise,
      circuit: circuits.noiseNorm,
      srs: await loadJobSrs(artifacts, circuits.srs),
      c2: noiseBound,
      context: {
        jobId: data.jobId,
        round: data.round,
        globalModelHash: round.globalModelHash,
        roundSeed: round.challengeSeed,
      },
    });
    logger.info(
      {
        jobId: data.jobId,
        round: data.round,
        chunks: noise.proof.proofs.length,
        seconds: noise.seconds,
      },
      "DP noise committed and its norm proven",
    );
  }
  // R opens Σ wᵢ·Cᵢ (+ C_N with central DP) next to S (+ N).
  const blinding =
    exactResult && job.spec.proofs
      ? JSON.stringify(
          aggregateBlinding([
            ...contributions.map((contribution, i) => ({
              id: contribution.deviceId,
              weight: quantized[i]!.weight,
              blindings: contribution.kzgBlindings ?? [],
            })),
            ...(noise ? [{ id: "the DP noise", weight: 1, blindings: noise.blindings }] : []),
          ]),
        )
      : "";
  await store.indexModel(hash, data.jobId);
  await store.updateRound(data.jobId, data.round, {
    modelHash: hash,
    epsilon,
    aggregateHash: exactResult?.aggregateHash ?? "",
    aggregateWeight: exactResult?.aggregate.weight ?? 0,
    noiseSquaredNorm: exactResult?.noiseSquaredNorm?.toString() ?? "",
    aggregateBlinding: blinding,
    noiseProof: noise ? JSON.stringify(noise.proof) : "",
  });
  logger.info(
    {
      jobId: data.jobId,
      round: data.round,
      modelHash: hash,
      contributors: updates.length,
      strategy: spec.strategy.name,
      aggregateHash: exactResult?.aggregateHash ?? "",
      epsilon,
    },
    "round aggregated",
  );
  return {
    jobId: data.jobId,
    round: data.round,
    modelHash: hash,
    contributors: updates.length,
    strategyStateHash,
    epsilon,
    nextClipNorm,
  };
}

/**
 * Σ q² of a verified contribution as the coordinator established it: with proofs, the running
 * sum the last UpdateNorm chunk proves (sumBefore + partialSum; the verify worker checked the
 * chain from 0 and recomputed the commitments over these bytes, so it is their Σ q²); without,
 * the sum over the bytes themselves.
 */
function establishedSquaredNorm(
  contribution: ContributionRecord,
  q: Int32Array,
  chunkCircuitId: string | undefined,
): bigint {
  const chunks = chunkCircuitId
    ? contribution.proofs.filter((proof) => proof.circuitId === chunkCircuitId)
    : [];
  const last = chunks.at(-1);
  if (!last) return squaredNormQuantized(q);
  const signals = parseUpdateNormSignals(last.publicSignals, chunks.length - 1);
  return signals.sumBefore + signals.partialSum;
}

export interface StartAggregateWorkerParameters extends AggregateDependencies {
  connection: ConnectionOptions;
  prefix: string;
  lockDurationMs?: number;
  stalledIntervalMs?: number;
}

export function startAggregateWorker(
  parameters: StartAggregateWorkerParameters,
): Worker<AggregateJobData, AggregateJobResult> {
  return new Worker<AggregateJobData, AggregateJobResult>(
    QUEUE_NAMES.aggregate,
    (job: Job<AggregateJobData, AggregateJobResult>) => aggregateRound(parameters, job.data),
    {
      connection: parameters.connection,
      prefix: bullPrefix(parameters.prefix),
      concurrency: 1,
      ...lockSettings(parameters.lockDurationMs, parameters.stalledIntervalMs),
    },
  );
}
