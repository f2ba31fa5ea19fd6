import * as grpc from "@grpc/grpc-js";
import type * as tf from "@tensorflow/tfjs";
import type { Logger } from "pino";
import { InvalidArgumentError } from "../../common/errors.js";
import { failpoint } from "../../common/failpoints.js";
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
import type { AttesterSet, DatasetAttestation } from "../../protocol/proving/attester-set.js";
import { randomPrivateKey } from "../../protocol/proving/eddsa-poseidon.js";
import { deriveSeed } from "../../protocol/random.js";
import { computeDelta, evaluate, trainLocal } from "../core/train.js";
import { prepareUpdate } from "../core/update/prepare-update.js";
import { joinJob, readModelStream, submitUpdate } from "./coordinator-client.js";
import {
  DeviceProver,
  type DeviceProverParameters,
  jobAttesterSet,
  requireCommittedSeed,
  requiresProofs,
} from "./device-proofs.js";

export interface DeviceParameters {
  /**
   * The coordinator, or several separated by commas (`a:1,b:2`): coordinators sharing one
   * Redis serve the same jobs, so a device whose connection drops goes on with the next one.
   */
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
  /**
   * An attester's signature over the device's dataset (`fedproof attester sign`), for jobs
   * that name attesters; without it the device's data is self-attested.
   */
  attestation?: DatasetAttestation;
  /** The job's attester set, when the job's spec pins only its root (`--attester-set`). */
  attesterSet?: AttesterSet;
  /** How hard to try again when the connection to the coordinator drops. */
  reconnect?: ReconnectOptions;
  /**
   * Opens the clients for one coordinator address, instead of a channel of the device's own:
   * a simulated fleet gives its devices clients over one shared channel (client/node/simulation).
   * Called again on every reconnect; the clients it returns are closed when replaced.
   */
  connect?: (address: string) => FedproofClients;
  /**
   * Provers already running for the job's two circuits, shared by many devices of one process
   * (a simulated fleet): the device then downloads no circuit and starts no prover thread.
   */
  provers?: DeviceProverParameters["provers"];
}

export interface ReconnectOptions {
  /** Attempts in a row without getting connected before giving up (default 20). */
  attempts?: number;
  /** Give up once no attempt has succeeded for this long (default 120 s). */
  forMs?: number;
  /** First pause; it doubles per failed attempt, with jitter (default 250 ms). */
  baseDelayMs?: number;
  /** Longest pause (default 5 s). */
  maxDelayMs?: number;
}

/**
 * Codes after which the same request may succeed on another connection: the coordinator
 * went away (UNAVAILABLE, also what a stopping coordinator ends task streams with), took too
 * long, failed inside (its Redis restarting), or revoked the session (a newer Join, expiry).
 */
const RETRYABLE_CODES: ReadonlySet<number> = new Set([
  grpc.status.UNAVAILABLE,
  grpc.status.DEADLINE_EXCEEDED,
  grpc.status.INTERNAL,
  grpc.status.UNKNOWN,
  grpc.status.UNAUTHENTICATED,
  grpc.status.CANCELLED,
]);

function isRetryable(error: unknown): boolean {
  const code = (error as Partial<grpc.ServiceError>).code;
  return typeof code === "number" && RETRYABLE_CODES.has(code);
}

/** A round the device has taken up: at most one piece of work per round, whatever is re-sent. */
interface RoundWork {
  task: RoundTask__Output;
  status: "working" | "uploaded" | "done";
  /** The task came again while working: if this attempt is interrupted, do it once more. */
  resent: boolean;
  /** Attempts interrupted so far (the coordinator or its Redis went away mid-round). */
  interruptions: number;
}

/** Attempts at one round's task that a failing connection may interrupt before it is left. */
const MAX_INTERRUPTIONS = 5;

type TaskOutcome = "uploaded" | "done" | "interrupted";

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
  private clients: FedproofClients;
  private readonly addresses: string[];
  private addressIndex = 0;
  private readonly roundWork = new Map<number, RoundWork>();
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
    this.addresses = parameters.address
      .split(",")
      .map((address) => address.trim())
      .filter(Boolean);
    if (this.addresses.length === 0) throw new InvalidArgumentError("no coordinator address given");
    this.clients = this.connect(this.addresses[0]!);
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
      const setup = await this.withReconnect(() =>
        unary<ProofSetup__Output>((callback) =>
          this.clients.coordinator.getProofSetup({ jobId: this.parameters.jobId }, callback),
        ),
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
          attestation: this.parameters.attestation,
          provers: this.parameters.provers,
        });
      }
      const enrolment = this.prover?.enrolment();
      this.enrolledSamples = enrolment?.samples ?? data.size;
      const ended = await this.withReconnect(async (connected) => {
        // A re-Join is signed with the same key under the id the first Join got, and revokes
        // the session before it: the coordinator knows the device again, on any coordinator.
        this.session = await joinJob(this.clients.coordinator, {
          jobId: this.parameters.jobId,
          deviceId: this.session?.deviceId ?? this.parameters.deviceId,
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
        if (!this.train) {
          const spec = this.session.spec!;
          if (this.prover) {
            this.prover.attesterSet = jobAttesterSet({
              pinned: spec.attesters,
              given: this.parameters.attesterSet,
              attested: Boolean(this.parameters.attestation),
            });
          }
          const local = conformToSchema(data, spec.schema!);
          const split = splitHoldout(
            local,
            spec.training?.holdoutFraction ?? 0.1,
            this.parameters.seed,
          );
          this.train = split.train;
          this.holdout = split.holdout;
          logger.info({ deviceId: this.deviceId, samples: data.size }, "joined");
        } else {
          logger.info({ deviceId: this.deviceId, address: this.address }, "joined again");
        }
        connected();
        const stream = this.clients.coordinator.tasks({ sessionToken: this.session.sessionToken });
        return this.listen(stream);
      });
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
      let ended = false;
      stream.on("data", (event: TaskEvent__Output) => {
        if (event.task) {
          this.takeTask(event.task);
        } else if (event.result) {
          const report = this.reports.get(event.result.round);
          if (report) {
            report.accepted = event.result.accepted;
            report.reason = event.result.reason;
          }
          // The coordinator could not judge the update (its verification gave up) and freed
          // the upload slot: the same work is uploaded again.
          const work = this.roundWork.get(event.result.round);
          if (
            !event.result.accepted &&
            work?.status === "uploaded" &&
            /upload it again/.test(event.result.reason)
          ) {
            this.roundWork.delete(event.result.round);
            this.takeTask(work.task);
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
          ended = true;
          resolve({ state: String(event.ended.state), reason: event.ended.reason });
          stream.cancel();
        }
      });
      stream.on("error", (error: grpc.ServiceError) => {
        if (ended) return; // CANCELLED: we hung up after the job ended
        reject(error);
      });
      // A stream that ends before the job did is a dropped connection, like an error.
      stream.on("end", () => {
        if (!ended)
          reject(
            Object.assign(new Error("the coordinator closed the task stream"), {
              code: grpc.status.UNAVAILABLE,
            }),
          );
      });
    });
  }

  private connect(address: string): FedproofClients {
    return (
      this.parameters.connect?.(address) ??
      createFedproofClients(address, this.parameters.credentials)
    );
  }

  private get address(): string {
    return this.addresses[this.addressIndex % this.addresses.length]!;
  }

  /**
   * Runs `attempt` (connect, Join, listen) until it returns, reconnecting after a retryable
   * failure with exponential backoff and full jitter, to the next coordinator of the list.
   * The budget restarts whenever an attempt got connected (`connected()`).
   */
  private async withReconnect<T>(attempt: (connected: () => void) => Promise<T>): Promise<T> {
    const { logger } = this.parameters;
    const options = this.parameters.reconnect ?? {};
    const maxAttempts = options.attempts ?? 20;
    const forMs = options.forMs ?? 120_000;
    const baseDelayMs = options.baseDelayMs ?? 250;
    const maxDelayMs = options.maxDelayMs ?? 5_000;
    let failures = 0;
    let since = Date.now();
    for (;;) {
      try {
        return await attempt(() => {
          failures = 0;
          since = Date.now();
        });
      } catch (error) {
        failures++;
        if (!isRetryable(error) || failures > maxAttempts || Date.now() - since > forMs) {
          throw error;
        }
        const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** (failures - 1));
        const delayMs = ceiling / 2 + Math.random() * (ceiling / 2);
        logger.warn(
          {
            address: this.address,
            code: (error as grpc.ServiceError).code,
            err: (error as Error).message,
            attempt: failures,
            delayMs: Math.round(delayMs),
          },
          "connection to the coordinator lost; reconnecting",
        );
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        this.addressIndex++;
        const previous = this.clients;
        this.clients = this.connect(this.address);
        previous.close();
      }
    }
  }

  /**
   * One piece of work per round: a task sent again (after a reconnect, or by a coordinator
   * that took over) while the device works on it or after it uploaded is ignored, unless the
   * attempt in hand is interrupted, in which case it is done once more.
   */
  private takeTask(task: RoundTask__Output, interruptions = 0): void {
    const existing = this.roundWork.get(task.round);
    if (existing) {
      if (existing.status === "working") existing.resent = true;
      return;
    }
    if (Number(task.deadlineUnixMs) > 0 && Date.now() > Number(task.deadlineUnixMs)) return;
    const work: RoundWork = { task, status: "working", resent: false, interruptions };
    this.roundWork.set(task.round, work);
    this.work = this.work
      .then(() => this.handleTask(task))
      .catch((error: unknown): TaskOutcome => {
        if (isRetryable(error)) return "interrupted";
        this.parameters.logger.error(
          { err: error, round: task.round },
          "round failed on this device",
        );
        return "done";
      })
      .then((outcome) => {
        if (outcome !== "interrupted") {
          work.status = outcome;
          return;
        }
        this.roundWork.delete(task.round);
        const interrupted = work.interruptions + 1;
        this.parameters.logger.info(
          { round: task.round, interruptions: interrupted },
          "round interrupted by the connection",
        );
        if (work.resent) return this.takeTask(task, interrupted);
        // The stream may have stayed up (the coordinator's Redis restarted under it): nobody
        // will send the task again, so the device tries again itself, a little later.
        if (interrupted < MAX_INTERRUPTIONS) {
          setTimeout(() => this.takeTask(task, interrupted), 1_000 * interrupted).unref();
        }
      });
  }

  private async handleTask(task: RoundTask__Output): Promise<TaskOutcome> {
    const { logger } = this.parameters;
    const spec = this.session!.spec!;
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
      // No rng: stochastic rounding draws from the CSPRNG (prepareUpdate's default).
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
    // Tests make a straggler here: a device that trains but never uploads.
    await failpoint("device-before-upload");
    try {
      await submitUpdate(
        this.clients.coordinator,
        {
          // The session now: a reconnect during training replaced the one the task came with.
          sessionToken: this.session!.sessionToken,
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
          kzg: proven?.kzg,
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
      return "uploaded";
    } catch (error) {
      const serviceError = error as grpc.ServiceError;
      if (isRetryable(error)) {
        this.reports.delete(task.round);
        return "interrupted";
      }
      // The coordinator has this device's upload for the round (sent before a reconnect).
      if (serviceError.code === grpc.status.ALREADY_EXISTS) return "uploaded";
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
      return "done";
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
