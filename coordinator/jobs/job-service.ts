import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { Logger } from "pino";
import { FedproofError, InvalidArgumentError, quote } from "../../common/errors.js";
import type { JobInfo } from "../../proto/generated/fedproof/v1/JobInfo.js";
import type { RoundSummary } from "../../proto/generated/fedproof/v1/RoundSummary.js";
import { DEFAULT_MAX_PARAMETERS, parseJobSpec, specHash } from "../../protocol/job/job-spec.js";
import { createChallengeChain } from "../../protocol/proving/challenge-seed.js";
import type { ChainConfig } from "../chain/chain-config.js";
import { registerJobOnChain } from "../chain/register-job.js";
import type { RoundEngine } from "../round/round-engine.js";
import type { ArtifactStore } from "../store/artifact-store.js";
import type { JobRecord, JobStore } from "../store/job-store.js";
import { createInitialModel } from "./initial-model.js";
import { type CircuitPlan, type JobCircuits, prepareJobCircuits } from "./job-circuits.js";
import { jobToMessage, roundToMessage } from "./job-messages.js";

export interface JobServiceParameters {
  store: JobStore;
  artifacts: ArtifactStore;
  engine: RoundEngine;
  /** When set, every job is registered on this chain before it starts. */
  chain?: ChainConfig;
  /** How jobs with `proofs` get their circuits. */
  proofs?: JobProofsConfig;
  /** Largest model a job may ask for (default $FEDPROOF_MAX_PARAMETERS, else 5·10⁷). */
  maxParameters?: number;
  logger?: Logger;
}

export interface JobProofsConfig {
  /** Which circuits a spec needs (default: the production chunk and data-validity circuits). */
  plan?: CircuitPlan;
  /** An operator's prepared powers-of-tau (default $FEDPROOF_PTAU); none: INSECURE dev setup. */
  ptau?: string;
  /** Circuit cache (default $FEDPROOF_CACHE_DIR or ~/.cache/fedproof). */
  cacheDir?: string;
}

/** What the researcher-facing API does, apart from transport: create, describe, cancel. */
export class JobService {
  private readonly maxParameters: number;

  constructor(private readonly parameters: JobServiceParameters) {
    this.maxParameters = parameters.maxParameters ?? maxParametersFromEnv();
  }

  async createJob(input: unknown): Promise<JobRecord> {
    if ((input as { challengeCommitment?: unknown } | null)?.challengeCommitment !== undefined) {
      throw new InvalidArgumentError(
        "invalid job spec: spec.challengeCommitment is set by the coordinator, not by the researcher",
        {
          details:
            "a commitment chosen by someone who also knows a device's dataset could steer which records get checked",
        },
      );
    }
    // The challenge chain is drawn before anything is hashed: its commitment is part of the
    // spec, so the spec hash (registered on chain before any device enrols) pins every seed.
    const parsed = parseJobSpec(input, { maxParameters: this.maxParameters });
    const challenges = createChallengeChain(parsed.rounds);
    const spec = { ...parsed, challengeCommitment: challenges.commitment };
    const { bytes, manifest } = createInitialModel(spec.model, spec.schema, spec.seed);
    const { hash } = await this.parameters.artifacts.put(bytes);
    const jobId = randomUUID();
    await this.parameters.store.indexModel(hash, jobId);
    const job: JobRecord = {
      jobId: jobId,
      spec,
      state: "WAITING",
      reason: "",
      currentRound: 0,
      initialModelHash: hash,
      currentModelHash: hash,
      specHash: specHash(spec),
      createdAtMs: Date.now(),
      paramCount: manifest.paramCount,
      manifest: JSON.stringify(manifest),
      strategyStateHash: "",
      currentClipNorm: spec.clipNorm,
      chainJobId: "",
      registry: "",
    };
    let circuits: JobCircuits | undefined;
    if (spec.proofs) circuits = await this.prepareCircuits(job);
    const { chain } = this.parameters;
    if (chain) {
      // Registered before it is stored: a job that cannot be anchored never starts.
      // With circuits, their Groth16 verifiers are deployed and registered too (disputes).
      const registered = await registerJobOnChain({
        chain,
        job,
        vkeyHash: circuits?.vkeyHash,
        circuits: circuits && [circuits.updateNorm, circuits.dataValidity],
      });
      job.chainJobId = registered.chainJobId;
      job.registry = chain.registry;
    }
    if (circuits) await this.parameters.store.saveJobCircuits(job.jobId, circuits);
    await this.parameters.store.saveChallengeSecret(job.jobId, challenges.seeds[spec.rounds]!);
    await this.parameters.store.createJob(job);
    await this.parameters.engine.onJobCreated(job.jobId);
    return job;
  }

  /** The circuits stored with a job with proofs; undefined for a job without. */
  async jobCircuits(jobId: string): Promise<JobCircuits | undefined> {
    return this.parameters.store.loadJobCircuits(jobId);
  }

  /** Builds the job's circuits, or finds them in the cache (milliseconds when built before). */
  private async prepareCircuits(job: JobRecord): Promise<JobCircuits> {
    const config = this.parameters.proofs ?? {};
    const logger = this.parameters.logger;
    const ptau = config.ptau ?? (process.env.FEDPROOF_PTAU || undefined);
    const circuits = await prepareJobCircuits({
      spec: job.spec,
      paramCount: job.paramCount,
      plan: config.plan,
      ptau,
      cacheDir: config.cacheDir,
      logger: logger && {
        info: (message) => logger.info({ jobId: job.jobId }, message),
        warn: (message) => logger.warn({ jobId: job.jobId }, message),
      },
    });
    const fields = {
      jobId: job.jobId,
      updateNorm: circuits.updateNorm.id,
      dataValidity: circuits.dataValidity.id,
      vkeyHash: circuits.vkeyHash,
    };
    if (circuits.updateNorm.insecure || circuits.dataValidity.insecure) {
      const message =
        "job uses INSECURE development circuit keys: whoever knows their public τ can forge proofs";
      // Without a logger the warning still reaches the operator, on stderr.
      if (logger) logger.warn(fields, message);
      else process.emitWarning(`${message} (job ${job.jobId})`, "InsecureSetupWarning");
    } else logger?.info(fields, "job circuits ready");
    // The SRS goes into the blob store every coordinator and worker shares: the verify workers
    // read it by hash from there, and GetArtifact serves that copy.
    const stored = await this.parameters.artifacts.put(await readFile(circuits.srs.path));
    if (stored.hash !== circuits.srs.sha256) {
      throw new FedproofError(
        `the KZG SRS file ${circuits.srs.path} changed while the job was created (sha256 ${stored.hash}, expected ${circuits.srs.sha256})`,
      );
    }
    return {
      ...circuits,
      srs: { ...circuits.srs, path: this.parameters.artifacts.pathOf(stored.hash) },
    };
  }

  async describeJob(jobId: string): Promise<JobInfo> {
    const { store } = this.parameters;
    const job = await store.getJob(jobId);
    const rounds: RoundSummary[] = [];
    for (const round of await store.listRounds(jobId, job.currentRound)) {
      const summary = roundToMessage(round, await store.rejections(jobId, round.round));
      summary.proofsVerified = round.proofsVerified;
      summary.proofsRejected = round.proofsRejected;
      const measured = await this.federatedMetrics(jobId, round.round);
      summary.federatedAccuracy = measured.accuracy;
      summary.federatedLoss = measured.loss;
      rounds.push(summary);
    }
    return jobToMessage(job, rounds, (await store.onlineDevices(jobId)).length);
  }

  /** Sample-weighted means of what devices measured on their own held-out data. */
  private async federatedMetrics(
    jobId: string,
    round: number,
  ): Promise<{ accuracy: number; loss: number }> {
    let samples = 0;
    let correct = 0;
    let loss = 0;
    for (const contribution of await this.parameters.store.contributions(jobId, round)) {
      const { holdoutSamples, holdoutAccuracy, holdoutLoss } = contribution.metrics;
      samples += holdoutSamples;
      correct += holdoutAccuracy * holdoutSamples;
      loss += holdoutLoss * holdoutSamples;
    }
    return samples > 0
      ? { accuracy: correct / samples, loss: loss / samples }
      : { accuracy: 0, loss: 0 };
  }
}

/** FEDPROOF_MAX_PARAMETERS, read once per coordinator; a typo must not lift the limit. */
function maxParametersFromEnv(): number {
  const raw = process.env.FEDPROOF_MAX_PARAMETERS;
  if (!raw) return DEFAULT_MAX_PARAMETERS;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new InvalidArgumentError(
      `FEDPROOF_MAX_PARAMETERS must be a positive integer, got ${quote(raw)}`,
    );
  }
  return value;
}
