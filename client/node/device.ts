import type * as grpc from "@grpc/grpc-js";
import type * as tf from "@tensorflow/tfjs";
import type { Logger } from "pino";
import { InvalidArgumentError } from "../../common/errors.js";
import { createFedproofClients, type FedproofClients, unary } from "../../proto/clients.js";
import type { DataSchema__Output } from "../../proto/generated/fedproof/v1/DataSchema.js";
import type { JoinResponse__Output } from "../../proto/generated/fedproof/v1/JoinResponse.js";
import type { ProofSetup__Output } from "../../proto/generated/fedproof/v1/ProofSetup.js";
import type { RoundTask__Output } from "../../proto/generated/fedproof/v1/RoundTask.js";
import type { TaskEvent__Output } from "../../proto/generated/fedproof/v1/TaskEvent.js";
import {
  type Dataset,
  featureSize,
  splitHoldout,
  validateDataset,
} from "../../protocol/data/dataset.js";
import { createModel, parseModelPreset } from "../../protocol/model/presets.js";
import { decodeModel, getFlatWeights, setFlatWeights } from "../../protocol/model/weights.js";
import { randomPrivateKey } from "../../protocol/proving/eddsa-poseidon.js";
import { createRng, deriveSeed } from "../../protocol/random.js";
import { computeDelta, evaluate, trainLocal } from "../core/train.js";
import { prepareUpdate } from "../core/update/prepare-update.js";
import { joinJob, readModelStream, submitUpdate } from "./coordinator-client.js";
import { DeviceProver, requireCommittedSeed, requiresProofs } from "./device-proofs.js";

export interface DeviceParameters {
  address: string;
  /** How to reach the coordinator (`channelCredentials({ ca })` for TLS); default plaintext. */
  credentials?: grpc.ChannelCredentials;
  jobId: string;
  deviceId?: string;
  /** All the device's records; a held-out share (the job's holdoutFraction) is kept for evaluation. */
  data: Dataset;
  seed: number;
  /** The tfjs backend in use, reported to the coordinator. */
  backend?: string;
  logger: Logger;
  /** Transforms the clipped Δ before upload: simulated attacks for robustness studies. */
  tamper?: (delta: Float32Array, clipNorm: number) => Float32Array;
  /**
   * The device's Baby Jubjub key, in every job: the coordinator binds the device id to it on
   * first Join and takes later Joins under the id only signed by it (default: a fresh random
   * key, so a restarted device needs the same key to keep its id: `--key-file`).
   */
  privateKey?: Uint8Array;
  /** EVM address credited for this device's contributions; fixed at first Join. */
  payoutAddress?: string;
}

export interface RoundReport {
  round: number;
  accepted?: boolean;
  reason?: string;
  late?: boolean;
  trainLoss: number;
  holdoutAccuracy: number;
  updateNorm: number;
  /** Seconds spent proving this round (0 without proofs). */
  proveSeconds: number;
}

export interface DeviceRunReturnType {
  deviceId: string;
  jobState: string;
  reason: string;
  rounds: RoundReport[];
}

/**
 * A device: joins a job, waits for round tasks, and for each one downloads the global
 * model (hash checked), evaluates it on its held-out records, trains locally, clips and
 * quantises Δ and uploads it. Runs until the coordinator says the job ended.
 */
export class Device {
  private readonly clients: FedproofClients;
  private session?: JoinResponse__Output;
  private model?: tf.LayersModel;
  private train?: Dataset;
  private holdout?: Dataset;
  private readonly reports = new Map<number, RoundReport>();
  private work: Promise<void> = Promise.resolve();
  private prover?: DeviceProver;
  private readonly privateKey: Uint8Array;
  /** The sample count declared (and signed) at Join: every upload must claim exactly it. */
  private enrolledSamples = 0;

  constructor(private readonly parameters: DeviceParameters) {
    this.clients = createFedproofClients(parameters.address, parameters.credentials);
    this.privateKey = parameters.privateKey ?? randomPrivateKey();
  }

  get deviceId(): string {
    return this.session?.deviceId ?? this.parameters.deviceId ?? "";
  }

  async run(): Promise<DeviceRunReturnType> {
    const { data, logger } = this.parameters;
    try {
      // A job with proofs needs the key and the signed dataset commitment at Join, so the
      // circuits (and the record encoding they imply) are fetched first.
      const setup = await unary<ProofSetup__Output>((callback) =>
        this.clients.coordinator.getProofSetup({ jobId: this.parameters.jobId }, callback),
      );
      if (requiresProofs(setup)) {
        if (setup.updateNorm?.insecure || setup.dataValidity?.insecure) {
          logger.warn(
            {
              updateNorm: setup.updateNorm?.circuitId,
              dataValidity: setup.dataValidity?.circuitId,
            },
            "the job's circuit keys come from an INSECURE development setup: proofs under them can be forged",
          );
        }
        this.prover = await DeviceProver.create({
          client: this.clients.coordinator,
          setup,
          data,
          privateKey: this.privateKey,
        });
      }
      const enrolment = this.prover?.enrolment();
      this.enrolledSamples = enrolment?.samples ?? data.size;
      this.session = await joinJob(this.clients.coordinator, {
        jobId: this.parameters.jobId,
        deviceId: this.parameters.deviceId,
        privateKey: this.privateKey,
        samples: this.enrolledSamples,
        platform: `node ${process.version}`,
        backend: this.parameters.backend ?? "",
        payoutAddress: this.parameters.payoutAddress,
        datasetCommitment: enrolment?.datasetCommitment,
        datasetSignature: enrolment?.datasetSignature,
        // Many devices starting together can meet the job's Join rate limit: wait and retry.
        rateLimitRetries: 20,
      });
      const spec = this.session.spec!;
      const local = conformToSchema(data, spec.schema!);
      const split = splitHoldout(
        local,
        spec.training?.holdoutFraction ?? 0.1,
        this.parameters.seed,
      );
      this.train = split.train;
      this.holdout = split.holdout;
      logger.info({ deviceId: this.deviceId, samples: data.size }, "joined");
      const stream = this.clients.coordinator.tasks({ sessionToken: this.session.sessionToken });
      const ended = await this.listen(stream);
      await this.work;
      return {
        deviceId: this.deviceId,
        jobState: ended.state,
        reason: ended.reason,
        rounds: [...this.reports.values()],
      };
    } finally {
      this.model?.dispose();
      await this.prover?.close();
      this.clients.close();
    }
  }

  private listen(
    stream: grpc.ClientReadableStream<TaskEvent__Output>,
  ): Promise<{ state: string; reason: string }> {
    return new Promise((resolve, reject) => {
      stream.on("data", (event: TaskEvent__Output) => {
        if (event.task) {
          const task = event.task;
          this.work = this.work
            .then(() => this.handleTask(task))
            .catch((error: unknown) => {
              this.parameters.logger.error(
                { err: error, round: task.round },
                "round failed on this device",
              );
            });
        } else if (event.result) {
          const report = this.reports.get(event.result.round);
          if (report) {
            report.accepted = event.result.accepted;
            report.reason = event.result.reason;
          }
          this.parameters.logger.info(
            {
              round: event.result.round,
              accepted: event.result.accepted,
              reason: event.result.reason || undefined,
            },
            "contribution verified",
          );
        } else if (event.ended) {
          resolve({ state: String(event.ended.state), reason: event.ended.reason });
          stream.cancel();
        }
      });
      stream.on("error", (error: grpc.ServiceError) => {
        if (error.code === 1 /* CANCELLED: we hung up after the job ended */) return;
        reject(error);
      });
      stream.on("end", () =>
        resolve({ state: "UNKNOWN", reason: "the coordinator closed the task stream" }),
      );
    });
  }

  private async handleTask(task: RoundTask__Output): Promise<void> {
    const { logger } = this.parameters;
    const session = this.session!;
    const spec = session.spec!;
    const preset = parseModelPreset(task.model || spec.model);
    if (this.prover) requireCommittedSeed(spec.challengeCommitment, task.round, task.challengeSeed);
    const context = {
      jobId: task.jobId,
      round: task.round,
      globalModelHash: task.globalModelHash,
      deviceId: this.deviceId,
      roundSeed: task.challengeSeed,
    };
    const dataProof = this.prover?.proveData(context, spec.schema!);
    // Never left unobserved: a failure surfaces when the round awaits it.
    dataProof?.catch(() => {});
    const { bytes } = await readModelStream(
      this.clients.coordinator.getModel({ modelHash: task.globalModelHash }),
      task.globalModelHash,
    );
    const global = decodeModel(bytes, Number(task.paramCount));
    if (!this.model) this.model = createModel(preset, this.train!.schema, this.parameters.seed);
    setFlatWeights(this.model, global);
    const before = await evaluate(this.model, this.holdout!);
    const training = task.training!;
    const trained = await trainLocal({
      model: this.model,
      data: this.train!,
      epochs: training.epochs,
      batchSize: training.batchSize,
      learningRate: training.learningRate,
      proximalMu: training.proximalMu,
      seed: deriveSeed(this.parameters.seed, task.round),
    });
    let delta = computeDelta(getFlatWeights(this.model), global);
    if (this.parameters.tamper) delta = this.parameters.tamper(delta, task.clipNorm);
    const quantization = task.quantization!;
    const update = prepareUpdate({
      delta,
      clipNorm: task.clipNorm,
      bits: quantization.bits,
      scale: quantization.scale,
      stochastic: quantization.stochastic,
      rng: createRng(deriveSeed(this.parameters.seed, task.round, 1)),
    });
    const report: RoundReport = {
      round: task.round,
      trainLoss: trained.loss,
      holdoutAccuracy: before.accuracy,
      updateNorm: update.norm,
      proveSeconds: 0,
    };
    this.reports.set(task.round, report);
    const proven =
      this.prover && dataProof
        ? await this.prover.proveRound(
            { context, q: update.q, clipNorm: task.clipNorm, scale: quantization.scale },
            dataProof,
          )
        : undefined;
    report.proveSeconds = proven?.seconds ?? 0;
    try {
      await submitUpdate(
        this.clients.coordinator,
        {
          sessionToken: session.sessionToken,
          jobId: task.jobId,
          round: task.round,
          globalModelHash: task.globalModelHash,
          // The count declared at Join, the coordinator's weight for this device (with proofs
          // also the committed, proven record count); any other number is refused.
          samples: this.enrolledSamples,
          paramCount: String(global.length),
          bits: quantization.bits,
          commitment: proven?.commitment,
          salt: proven?.salt,
          proofs: proven?.proofs,
          metrics: {
            trainLoss: trained.loss,
            trainSeconds: trained.seconds,
            holdoutAccuracy: before.accuracy,
            holdoutLoss: before.loss,
            holdoutSamples: before.samples,
            updateNorm: update.norm,
            proveSeconds: report.proveSeconds,
          },
        },
        update.bytes,
      );
      logger.info(
        {
          round: task.round,
          loss: trained.loss.toFixed(4),
          holdoutAccuracy: before.accuracy.toFixed(4),
          samplesPerSecond: Math.round(trained.samplesPerSecond),
        },
        "update uploaded",
      );
    } catch (error) {
      const serviceError = error as grpc.ServiceError;
      report.accepted = false;
      report.reason = serviceError.details ?? String(error);
      report.late = serviceError.code === 9; /* FAILED_PRECONDITION: round closed */
      // A late update is normal under over-selection; anything else is worth a warning.
      if (report.late)
        logger.info(
          { round: task.round, reason: report.reason },
          "update arrived after the round closed",
        );
      else logger.warn({ round: task.round, reason: report.reason }, "update refused");
    }
  }
}

/**
 * The device's records under the job's schema. Records that do not fit (a wrong width, a
 * value out of range, an unknown label) stop the device before it trains, naming the record.
 */
export function conformToSchema(data: Dataset, schema: DataSchema__Output): Dataset {
  const jobSchema = {
    featureShape: schema.featureShape,
    min: schema.min,
    max: schema.max,
    classes: schema.classes,
  };
  const width = featureSize(jobSchema);
  if (featureSize(data.schema) !== width) {
    throw new InvalidArgumentError(
      `local records have ${featureSize(data.schema)} features, the job's schema needs ${width} (shape [${schema.featureShape.join(", ")}])`,
    );
  }
  const conformed = { ...data, schema: jobSchema };
  validateDataset(conformed);
  return conformed;
}
