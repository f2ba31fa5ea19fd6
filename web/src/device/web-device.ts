import type * as tf from "@tensorflow/tfjs";
import { syntheticDataset } from "../../../client/core/data/synthetic.js";
import { dataValidityInputs } from "../../../client/core/proving/data-validity-inputs.js";
import { computeDelta, evaluate, trainLocal } from "../../../client/core/train.js";
import { prepareUpdate } from "../../../client/core/update/prepare-update.js";
import {
  type Dataset,
  featureSize,
  splitHoldout,
  validateDataset,
} from "../../../protocol/data/dataset.js";
import { createModel, parseModelPreset } from "../../../protocol/model/presets.js";
import { decodeModel, getFlatWeights, setFlatWeights } from "../../../protocol/model/weights.js";
import type { DataValidityParameters } from "../../../protocol/proving/data-validity-parameters.js";
import {
  type CommittedDataset,
  commitDataset,
  encodeDataset,
  schemaBounds,
} from "../../../protocol/proving/dataset-commitment.js";
import { randomFieldElement } from "../../../protocol/proving/field.js";
import { decodeSrs, type KzgSrs } from "../../../protocol/proving/kzg.js";
import { encodeFieldElement, encodeSignature } from "../../../protocol/proving/proof-codec.js";
import type { ProofContextParameters } from "../../../protocol/proving/proof-context.js";
import { encodeKzgChunk, proveUpdate } from "../../../protocol/proving/prove-update-norm.js";
import type { UpdateNormParameters } from "../../../protocol/proving/update-norm-parameters.js";
import { deriveSeed } from "../../../protocol/random.js";
import { quantizedNormBound } from "../../../protocol/update/quantize.js";
import { api } from "../api.js";
import { downloadChunked } from "../rpc/chunked-download.js";
import { COORDINATOR, type JoinAnswer, joinOverWeb, PROVENANCE } from "../rpc/coordinator-api.js";
import { GrpcWebError } from "../rpc/grpc-web-client.js";
import { uploadUpdate } from "../rpc/upload.js";
import { type BrowserProver, createBrowserProver } from "./browser-prover.js";
import { loadIdentity, type PendingUpload, saveIdentity } from "./identity-store.js";
import { selectWebBackend, type WebBackend } from "./web-backend.js";

export type DevicePhase =
  | "starting"
  | "setup"
  | "joining"
  | "waiting"
  | "download"
  | "training"
  | "proving"
  | "upload"
  | "verifying"
  | "ended"
  | "error";

export interface DeviceEvent {
  phase: DevicePhase;
  message: string;
  round?: number;
  /** 0..1 within the phase, when known. */
  progress?: number;
}

export interface RoundOutcome {
  round: number;
  accepted?: boolean;
  reason: string;
  trainLoss?: number;
  holdoutAccuracy?: number;
}

export interface WebDeviceParameters {
  jobId: string;
  samples: number;
  backend?: WebBackend;
  /** Bytes per upload chunk (default 256 KiB). */
  uploadChunkBytes?: number;
  onEvent(event: DeviceEvent): void;
  onOutcome(outcome: RoundOutcome): void;
  signal: AbortSignal;
}

interface Task {
  jobId: string;
  round: number;
  globalModelHash: string;
  training: { epochs: number; batchSize: number; learningRate: number; proximalMu: number };
  quantization: { bits: number; scale: number; stochastic: boolean };
  clipNorm: number;
  paramCount: string;
  model: string;
  /** The round's challenge seed: bound into every proof's context. */
  challengeSeed: string;
}

interface CircuitInfo {
  circuitId: string;
  wasmSha256: string;
  zkeySha256: string;
  parametersJson: string;
  insecure: boolean;
}

interface ProofSetup {
  updateNorm?: CircuitInfo | null;
  dataValidity?: CircuitInfo | null;
  featureScale: number;
  minSamples: number;
  /** The job's KZG SRS, fetched by this hash like the circuit files. */
  srsSha256: string;
  srsSize: number;
}

/**
 * A device in a browser tab: the same protocol as client/node/device.ts (proof setup, signed
 * Join, task stream, model download with hash check, local training, clip and quantise,
 * proofs, upload), over gRPC-web, with its key in IndexedDB and synthetic local data.
 */
export async function runWebDevice(parameters: WebDeviceParameters): Promise<string> {
  const { jobId, onEvent, signal } = parameters;
  const call = <T>(method: string, request: object) =>
    api.unary<T>(COORDINATOR, method, request, { signal });
  onEvent({ phase: "starting", message: "choosing a TensorFlow.js backend" });
  const backend = await selectWebBackend(parameters.backend);
  const identity = await loadIdentity();
  const known = identity.jobs[jobId];
  const seed = known?.seed ?? crypto.getRandomValues(new Uint32Array(1))[0] >>> 1;
  const outcomes = new Map<number, RoundOutcome>();
  // Before Join: a Join revokes the session the pending upload belongs to.
  if (known?.upload) await resumeUpload(known.upload);

  const setup = await call<ProofSetup>("GetProofSetup", { jobId });
  const job = await api.unary<{ spec: JoinAnswer["spec"] }>("fedproof.v1.Jobs", "GetJob", {
    jobId,
  });
  const schema = job.spec.schema;
  const data = localData(schema, parameters.samples, seed);

  let prover:
    | { dataset: CommittedDataset; update: BrowserProver; data: BrowserProver; srs: KzgSrs }
    | undefined;
  if (setup.updateNorm?.circuitId && setup.dataValidity) {
    onEvent({
      phase: "setup",
      message: `downloading circuits${setup.updateNorm.insecure ? " (INSECURE development setup)" : ""}`,
    });
    if (!setup.srsSha256) {
      throw new Error(
        "the job's proof setup names no KZG SRS: its coordinator predates KZG commitments",
      );
    }
    const [uWasm, uZkey, dWasm, dZkey, srsBytes] = await Promise.all(
      [
        setup.updateNorm.wasmSha256,
        setup.updateNorm.zkeySha256,
        setup.dataValidity.wasmSha256,
        setup.dataValidity.zkeySha256,
        setup.srsSha256,
      ].map((hash) => downloadArtifact(hash, signal)),
    );
    // Hash-checked by the download; decoding checks every point is on the curve.
    const srs = decodeSrs(srsBytes!);
    if (srs.size !== setup.srsSize) {
      throw new Error(`the job's KZG SRS has ${srs.size} powers, its setup says ${setup.srsSize}`);
    }
    const dataset = commitDataset({
      parameters: JSON.parse(setup.dataValidity.parametersJson) as DataValidityParameters,
      records: encodeDataset(data, {
        featureScale: setup.featureScale,
        min: schema.min,
        max: schema.max,
      }),
      privateKey: identity.privateKey,
    });
    prover = {
      dataset,
      update: createBrowserProver({ wasm: uWasm, zkey: uZkey }),
      data: createBrowserProver({ wasm: dWasm, zkey: dZkey }),
      srs,
    };
  }

  onEvent({ phase: "joining", message: known ? `re-joining as ${known.deviceId}` : "joining" });
  const session = await joinOverWeb(
    api,
    {
      jobId,
      deviceId: known?.deviceId,
      privateKey: identity.privateKey,
      samples: prover ? prover.dataset.sampleCount : data.size,
      platform: browserPlatform(),
      backend,
      ...(prover && {
        datasetCommitment: encodeFieldElement(prover.dataset.commitment),
        datasetSignature: encodeSignature(prover.dataset.signature),
      }),
    },
    { signal },
  );
  identity.jobs[jobId] = { ...identity.jobs[jobId], deviceId: session.deviceId, seed };
  await saveIdentity(identity);
  const split = splitHoldout(data, session.spec.training?.holdoutFraction ?? 0.1, seed);
  onEvent({
    phase: "waiting",
    message: `joined as ${session.deviceId} (${backend}); waiting for a round`,
  });

  let model: tf.LayersModel | undefined;
  let work = Promise.resolve();
  try {
    for await (const event of api.stream<{
      task?: Task | null;
      result?: { round: number; accepted: boolean; reason: string } | null;
      ended?: { state: string; reason: string } | null;
    }>(COORDINATOR, "Tasks", { sessionToken: session.sessionToken }, { signal })) {
      if (event.task) {
        const task = event.task;
        void settleMissedResults(task.round);
        work = work.then(async () => {
          try {
            model = await runRound(task, model);
          } catch (error) {
            const reason = error instanceof GrpcWebError ? error.details : String(error);
            const outcome = { round: task.round, accepted: false, reason };
            outcomes.set(task.round, outcome);
            parameters.onOutcome(outcome);
            onEvent({ phase: "error", round: task.round, message: reason });
          }
        });
      } else if (event.result) {
        const outcome = {
          ...outcomes.get(event.result.round),
          round: event.result.round,
          accepted: event.result.accepted,
          reason: event.result.reason || (event.result.accepted ? "accepted" : "rejected"),
        };
        outcomes.set(outcome.round, outcome);
        parameters.onOutcome(outcome);
        onEvent({
          phase: "waiting",
          round: outcome.round,
          message: `round ${outcome.round}: ${outcome.accepted ? "accepted" : "rejected"} (${outcome.reason}); waiting`,
        });
      } else if (event.ended) {
        await work;
        await settleMissedResults(Number.POSITIVE_INFINITY);
        const message = `job ${event.ended.state.replace("JOB_STATE_", "").toLowerCase()}: ${event.ended.reason}`;
        onEvent({ phase: "ended", message });
        return message;
      }
    }
    return "task stream closed";
  } finally {
    model?.dispose();
    prover?.update.close();
    prover?.data.close();
  }

  async function runRound(task: Task, current: tf.LayersModel | undefined) {
    const round = task.round;
    const context = {
      jobId: task.jobId,
      round,
      globalModelHash: task.globalModelHash,
      deviceId: session.deviceId,
      roundSeed: task.challengeSeed,
    };
    const dataProof = prover && startDataProof(prover, setup, schema, context);
    dataProof?.catch(() => {});
    onEvent({
      phase: "download",
      round,
      message: `downloading model ${task.globalModelHash.slice(0, 12)}…`,
    });
    const bytes = await downloadModel(task.globalModelHash, signal, (progress) =>
      onEvent({ phase: "download", round, progress, message: "downloading the global model" }),
    );
    const global = decodeModel(bytes, Number(task.paramCount));
    const preset = parseModelPreset(task.model || session.spec.model);
    const model = current ?? createModel(preset, split.train.schema, seed);
    setFlatWeights(model, global);
    const before = await evaluate(model, split.holdout);
    onEvent({
      phase: "training",
      round,
      message: `training ${task.training.epochs} epoch(s) on ${split.train.size} records`,
    });
    const trained = await trainLocal({
      model,
      data: split.train,
      epochs: task.training.epochs,
      batchSize: task.training.batchSize,
      learningRate: task.training.learningRate,
      proximalMu: task.training.proximalMu,
      seed: deriveSeed(seed, round),
    });
    const update = prepareUpdate({
      delta: computeDelta(getFlatWeights(model), global),
      clipNorm: task.clipNorm,
      bits: task.quantization.bits,
      scale: task.quantization.scale,
      stochastic: task.quantization.stochastic,
    });
    outcomes.set(round, {
      round,
      reason: "",
      trainLoss: trained.loss,
      holdoutAccuracy: before.accuracy,
    });
    let proven:
      | {
          proofs: object[];
          kzg: object[];
          commitment: Uint8Array;
          salt: Uint8Array;
          seconds: number;
        }
      | undefined;
    if (prover && dataProof) {
      const circuit = JSON.parse(setup.updateNorm!.parametersJson) as UpdateNormParameters;
      const started = performance.now();
      let done = 0;
      const salt = randomFieldElement();
      const proofs = await proveUpdate({
        q: update.q,
        circuit: { n: circuit.n, bits: circuit.bits },
        salt,
        context,
        c2: quantizedNormBound(task.clipNorm, task.quantization.scale),
        srs: prover.srs,
        prover: async (input) => {
          const total = Math.ceil(update.q.length / circuit.n);
          onEvent({
            phase: "proving",
            round,
            progress: done / total,
            message: `proving chunk ${done + 1} of ${total}`,
          });
          const proof = await prover!.update.prove(input);
          done++;
          return proof;
        },
      });
      onEvent({ phase: "proving", round, message: "waiting for the data-validity proof" });
      const data = await dataProof;
      const asProof = (circuitId: string, p: { proof: unknown; publicSignals: string[] }) => ({
        circuitId,
        proofJson: JSON.stringify(p.proof),
        publicSignals: p.publicSignals,
      });
      proven = {
        proofs: [
          ...proofs.proofs.map((p) => asProof(setup.updateNorm!.circuitId, p)),
          asProof(setup.dataValidity!.circuitId, data),
        ],
        kzg: proofs.kzg.map(encodeKzgChunk),
        commitment: encodeFieldElement(proofs.commitment),
        salt: encodeFieldElement(salt),
        seconds: (performance.now() - started) / 1000,
      };
    }
    onEvent({
      phase: "upload",
      round,
      progress: 0,
      message: `uploading ${update.bytes.byteLength} bytes`,
    });
    await uploadUpdate({
      client: api,
      signal,
      header: {
        sessionToken: session.sessionToken,
        jobId: task.jobId,
        round,
        globalModelHash: task.globalModelHash,
        // Exactly the count declared at Join: the coordinator refuses any other.
        samples: prover ? prover.dataset.sampleCount : data.size,
        paramCount: String(global.length),
        bits: task.quantization.bits,
        commitment: proven?.commitment ?? new Uint8Array(),
        salt: proven?.salt ?? new Uint8Array(),
        proofs: proven?.proofs ?? [],
        kzg: proven?.kzg ?? [],
        metrics: {
          trainLoss: trained.loss,
          trainSeconds: trained.seconds,
          holdoutAccuracy: before.accuracy,
          holdoutLoss: before.loss,
          holdoutSamples: before.samples,
          updateNorm: update.norm,
          proveSeconds: proven?.seconds ?? 0,
        },
      },
      bytes: update.bytes,
      chunkBytes: parameters.uploadChunkBytes,
      onBegin: ({ uploadId }) =>
        setPendingUpload({
          round,
          uploadId,
          sessionToken: session.sessionToken,
          bytes: update.bytes,
        }),
      onProgress: ({ offset, size }) =>
        onEvent({
          phase: "upload",
          round,
          progress: offset / size,
          message: `uploaded ${offset} of ${size} bytes`,
        }),
    }).then(
      () => setPendingUpload(undefined),
      async (error: unknown) => {
        // Worth resuming only when the coordinator was out of reach or the page stopped it.
        if (!(error instanceof GrpcWebError && (error.code === 14 || error.code === 1))) {
          await setPendingUpload(undefined);
        }
        throw error;
      },
    );
    onEvent({ phase: "verifying", round, message: "uploaded; the coordinator is verifying" });
    return model;
  }

  /**
   * Results sent while the page was away (a reload mid-round) never reach this stream: for a
   * round that has moved on, the Provenance service says whether the contribution was accepted.
   */
  async function settleMissedResults(before: number): Promise<void> {
    for (const outcome of [...outcomes.values()]) {
      if (outcome.accepted !== undefined || outcome.round >= before) continue;
      const accepted = await api
        .unary(
          PROVENANCE,
          "GetContribution",
          { jobId, round: outcome.round, deviceId: session.deviceId },
          { signal },
        )
        .then(
          () => true,
          (error: unknown) =>
            error instanceof GrpcWebError && error.code === 5 ? false : undefined,
        );
      if (accepted === undefined) continue;
      const settled = {
        ...outcome,
        accepted,
        reason: `${outcome.reason}; ${accepted ? "accepted" : "not among the accepted contributions"}`,
      };
      outcomes.set(outcome.round, settled);
      parameters.onOutcome(settled);
    }
  }

  async function setPendingUpload(upload: PendingUpload | undefined): Promise<void> {
    const entry = identity.jobs[jobId];
    if (!entry) return;
    if (upload) entry.upload = upload;
    else delete entry.upload;
    await saveIdentity(identity);
  }

  /**
   * Finishes the upload a previous page load began (the page was reloaded or closed mid-way):
   * GetUpload says how many bytes the coordinator holds, and only the rest is sent.
   */
  async function resumeUpload(upload: PendingUpload): Promise<void> {
    const { round } = upload;
    onEvent({ phase: "upload", round, message: `resuming the upload of round ${round}` });
    let resumedAt = 0;
    let reason: string;
    try {
      await uploadUpdate({
        client: api,
        signal,
        header: { sessionToken: upload.sessionToken },
        uploadId: upload.uploadId,
        bytes: upload.bytes,
        chunkBytes: parameters.uploadChunkBytes,
        onBegin: ({ offset }) => {
          resumedAt = offset;
        },
        onProgress: ({ offset, size }) =>
          onEvent({
            phase: "upload",
            round,
            progress: offset / size,
            message: `uploaded ${offset} of ${size} bytes (resumed)`,
          }),
      });
      reason = `resumed after a reload at byte ${resumedAt} of ${upload.bytes.byteLength}, committed`;
    } catch (error) {
      if (signal.aborted) throw error;
      reason = `the upload begun before the reload could not be finished: ${error instanceof GrpcWebError ? error.details : String(error)}`;
    }
    await setPendingUpload(undefined);
    outcomes.set(round, { round, reason });
    parameters.onOutcome({ round, reason });
    onEvent({ phase: "verifying", round, message: `round ${round}: ${reason}` });
  }
}

function startDataProof(
  prover: { dataset: CommittedDataset; data: BrowserProver },
  setup: ProofSetup,
  schema: { min: number; max: number; classes: number },
  context: ProofContextParameters,
) {
  const bounds = schemaBounds({ featureScale: setup.featureScale, ...schema });
  const { input } = dataValidityInputs({
    dataset: prover.dataset,
    context,
    minSamples: setup.minSamples,
    featureMin: bounds.featureMin,
    featureMax: bounds.featureMax,
    classes: schema.classes,
  });
  return prover.data.prove(input);
}

/** Records generated in the page from a stored seed, so a reload holds the same dataset. */
function localData(
  schema: { featureShape: number[]; min: number; max: number; classes: number },
  samples: number,
  seed: number,
): Dataset {
  const synthetic = syntheticDataset({
    samples,
    seed,
    features: featureSize(schema),
    classes: schema.classes,
  });
  const span = schema.max - schema.min;
  const x = synthetic.x.map((value) => schema.min + value * span);
  const data = { ...synthetic, x, schema: { ...schema } };
  validateDataset(data);
  return data;
}

function downloadModel(
  hash: string,
  signal: AbortSignal,
  onProgress: (progress: number) => void,
): Promise<Uint8Array> {
  return downloadChunked({
    client: api,
    method: "GetModel",
    request: { modelHash: hash },
    sha256: hash,
    signal,
    onProgress,
  });
}

function downloadArtifact(hash: string, signal: AbortSignal): Promise<Uint8Array> {
  return downloadChunked({
    client: api,
    method: "GetArtifact",
    request: { sha256: hash },
    sha256: hash,
    signal,
  });
}

/** "browser Chrome/156.0.8078.114": the coordinator takes at most 64 printable characters. */
function browserPlatform(): string {
  const agent = navigator.userAgent;
  const product = /(Firefox|Edg|OPR|Chrome|Version)\/[\d.]+/.exec(agent)?.[0] ?? "unknown";
  const mobile = /Mobile|Android|iPhone/.test(agent) ? " mobile" : "";
  return `browser ${product}${mobile}`.replace(/[^\x20-\x7e]/g, "").slice(0, 64);
}
