import { quote } from "../../common/errors.js";
import type { CoordinatorHandlers } from "../../proto/generated/fedproof/v1/Coordinator.js";
import type { UpdateHeader__Output } from "../../proto/generated/fedproof/v1/UpdateHeader.js";
import { bytesPerValue } from "../../protocol/update/quantize.js";
import {
  AlreadyExistsError,
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
  RoundClosedError,
} from "../errors.js";
import type { ContributionRecord, DeviceMetricsRecord, DeviceRecord } from "../store/job-store.js";
import type { CoordinatorServiceParameters } from "./coordinator-service.js";
import { refuseExclusion } from "./exclusion.js";
import { requireSession } from "./session.js";
import { answerUnary } from "./status.js";

export type SubmitUpdateHandlerParameters = Pick<
  CoordinatorServiceParameters,
  "store" | "artifacts" | "verifyQueue" | "logger"
>;

/**
 * SubmitUpdate: a header, then the update's bytes. Every check that needs only the header runs
 * before a byte is stored; the submission is claimed before the upload so a device cannot race
 * two updates into one round, and released if the bytes turn out wrong.
 */
export function createSubmitUpdateHandler(
  parameters: SubmitUpdateHandlerParameters,
): CoordinatorHandlers["SubmitUpdate"] {
  const { store, artifacts, logger } = parameters;
  const session = (token: string) => requireSession(store, token);
  return (call, callback) => {
    answerUnary(
      async () => {
        const iterator = call[Symbol.asyncIterator]() as AsyncIterator<{
          header?: UpdateHeader__Output | null;
          data?: Buffer;
        }>;
        const first = await iterator.next();
        const header = first.done ? undefined : first.value.header;
        if (!header)
          throw new InvalidArgumentError("the first message of SubmitUpdate must be the header");
        const { jobId, deviceId } = await session(header.sessionToken);
        if (header.jobId && header.jobId !== jobId) {
          throw new InvalidArgumentError(
            `header.jobId ${quote(header.jobId)} does not match the session's job ${jobId}`,
          );
        }
        // Everything the checks below read, in one round trip: a round's uploads arrive together.
        const context = await store.uploadContext(jobId, header.round, deviceId);
        const { job, round, device } = context;
        if (!job) throw new NotFoundError(`job ${quote(jobId)} not found`);
        refuseExclusion(jobId, deviceId, context.exclusion);
        if (!round) throw new NotFoundError(`round ${header.round} of job ${jobId} not found`);
        if (!context.selected) {
          throw new PermissionDeniedError(
            `device ${deviceId} was not selected for round ${header.round}`,
          );
        }
        if (round.state !== "OPEN" || Date.now() > round.deadlineMs) {
          // A device that already uploaded for this round is answered, never recorded: its
          // update is in the round or was judged, and it must not also appear as late.
          if (!(await store.hasSubmitted(jobId, header.round, deviceId))) {
            await store.recordRejection(
              jobId,
              header.round,
              deviceId,
              "late: round closed",
              "late",
            );
          }
          throw new RoundClosedError(
            `round ${header.round} of job ${jobId} is closed (${round.state}, deadline ${new Date(round.deadlineMs).toISOString()}): update is late`,
          );
        }
        if (header.globalModelHash !== round.globalModelHash) {
          throw new InvalidArgumentError(
            `update was trained on model ${quote(header.globalModelHash)}, round ${header.round} uses ${round.globalModelHash}`,
          );
        }
        const paramCount = Number(header.paramCount);
        if (paramCount !== job.paramCount) {
          throw new InvalidArgumentError(
            `update has ${paramCount} parameters, the model has ${job.paramCount}: wrong shape`,
          );
        }
        if (header.bits !== job.spec.quantization.bits) {
          throw new InvalidArgumentError(
            `update uses ${header.bits} bits, the job uses ${job.spec.quantization.bits}`,
          );
        }
        if (!device) throw new NotFoundError(`device ${deviceId} is not enrolled in job ${jobId}`);
        // The weight was fixed (and signed) at Join; an upload claiming another count is
        // refused rather than silently re-weighted, so the device learns its header is wrong.
        if (header.samples !== device.samples) {
          throw new InvalidArgumentError(
            `update header claims ${header.samples} samples, device ${deviceId} enrolled with ${device.samples}: the weight is fixed at Join`,
          );
        }
        const metrics = checkMetrics(header.metrics, device);
        const expectedBytes = job.paramCount * bytesPerValue(job.spec.quantization.bits);
        if (!(await store.claimSubmission(jobId, header.round, deviceId))) {
          throw new AlreadyExistsError(
            `device ${deviceId} already submitted an update for round ${header.round}`,
          );
        }
        let stored: { hash: string; size: number };
        try {
          stored = await artifacts.putChunks(dataChunks(iterator, expectedBytes));
          if (stored.size !== expectedBytes) {
            throw new InvalidArgumentError(
              `update has ${stored.size} bytes, expected ${expectedBytes} (${job.paramCount} values × ${bytesPerValue(job.spec.quantization.bits)} bytes): wrong shape`,
            );
          }
        } catch (error) {
          await store.releaseSubmission(jobId, header.round, deviceId);
          throw error;
        }
        const contribution = contributionOf(header, {
          jobId,
          device,
          updateHash: stored.hash,
          metrics,
        });
        const contributionId = `${jobId}-${header.round}-${deviceId}`;
        await parameters.verifyQueue.add(
          "verify",
          { contribution },
          {
            jobId: `verify-${contributionId}`,
            attempts: 3,
            backoff: { type: "exponential", delay: 500 },
            removeOnComplete: { age: 24 * 3600 },
            removeOnFail: { age: 7 * 24 * 3600 },
          },
        );
        return { contributionId, updateHash: stored.hash, status: "queued" };
      },
      callback,
      logger,
    );
  };
}

/** The record the verify worker judges: the header's claims, bound to the stored bytes. */
function contributionOf(
  header: UpdateHeader__Output,
  identity: {
    jobId: string;
    device: DeviceRecord;
    updateHash: string;
    metrics: DeviceMetricsRecord;
  },
): ContributionRecord {
  return {
    jobId: identity.jobId,
    round: header.round,
    deviceId: identity.device.deviceId,
    updateHash: identity.updateHash,
    // The enrolled count, never the header's (equal by now): the verify worker weighs by it.
    samples: identity.device.samples,
    bits: header.bits,
    paramCount: Number(header.paramCount),
    commitment: Buffer.from(header.commitment).toString("hex"),
    salt: Buffer.from(header.salt ?? []).toString("hex"),
    proofs: header.proofs.map((proof) => ({
      circuitId: proof.circuitId,
      proofJson: proof.proofJson,
      publicSignals: proof.publicSignals,
    })),
    // As sent; the verify worker checks every byte of them (a malformed point or blinding is
    // the device's fault, refused with its reason there, not here).
    kzgCommitments: (header.kzg ?? []).map((k) => `0x${Buffer.from(k.commitment).toString("hex")}`),
    kzgOpenings: (header.kzg ?? []).map((k) => `0x${Buffer.from(k.opening).toString("hex")}`),
    kzgBlindings: (header.kzg ?? []).map((k) => [
      Buffer.from(k.blinding0).toString("hex"),
      Buffer.from(k.blinding1).toString("hex"),
    ]),
    metrics: identity.metrics,
    receivedAtMs: Date.now(),
  };
}

/**
 * The device's self-reported metrics, range-checked: they feed the job's federated accuracy
 * (weighted by held-out samples) and adaptive clipping, so a header claiming accuracy 10⁶ or a
 * held-out set larger than the device's data is refused, naming the field.
 */
function checkMetrics(
  metrics: UpdateHeader__Output["metrics"],
  device: DeviceRecord,
): DeviceMetricsRecord {
  const checked: DeviceMetricsRecord = {
    trainLoss: metrics?.trainLoss ?? 0,
    trainSeconds: metrics?.trainSeconds ?? 0,
    holdoutAccuracy: metrics?.holdoutAccuracy ?? 0,
    holdoutLoss: metrics?.holdoutLoss ?? 0,
    holdoutSamples: metrics?.holdoutSamples ?? 0,
    updateNorm: metrics?.updateNorm ?? 0,
    proveSeconds: metrics?.proveSeconds ?? 0,
  };
  const problem = (name: keyof DeviceMetricsRecord, rule: string) =>
    new InvalidArgumentError(`metrics.${name} = ${quote(checked[name], 24)} must be ${rule}`);
  for (const name of [
    "trainLoss",
    "trainSeconds",
    "holdoutLoss",
    "updateNorm",
    "proveSeconds",
  ] as const) {
    if (!Number.isFinite(checked[name]) || checked[name] < 0) {
      throw problem(name, "a finite, non-negative number");
    }
  }
  if (!(checked.holdoutAccuracy >= 0 && checked.holdoutAccuracy <= 1)) {
    throw problem("holdoutAccuracy", "in [0, 1]");
  }
  if (checked.holdoutSamples > device.samples) {
    throw problem("holdoutSamples", `at most the ${device.samples} samples the device enrolled`);
  }
  return checked;
}

/** The data chunks after the header, refusing to store more than the update can be. */
async function* dataChunks(
  iterator: AsyncIterator<{ header?: unknown; data?: Buffer }>,
  expectedBytes: number,
): AsyncGenerator<Uint8Array> {
  let total = 0;
  for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
    if (next.value.header)
      throw new InvalidArgumentError("SubmitUpdate carries one header, then data only");
    const data = next.value.data;
    if (!data || data.byteLength === 0) continue;
    total += data.byteLength;
    if (total > expectedBytes) {
      throw new InvalidArgumentError(
        `update is larger than the expected ${expectedBytes} bytes: wrong shape`,
      );
    }
    yield data;
  }
}
