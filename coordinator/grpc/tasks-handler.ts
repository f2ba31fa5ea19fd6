import { randomUUID } from "node:crypto";
import type { CoordinatorHandlers } from "../../proto/generated/fedproof/v1/Coordinator.js";
import type { TaskEvent } from "../../proto/generated/fedproof/v1/TaskEvent.js";
import { CoordinatorShuttingDownError, UnauthenticatedError } from "../errors.js";
import type { SessionRecord } from "../store/job-store.js";
import type { CoordinatorServiceParameters } from "./coordinator-service.js";
import { refuseExcludedDevice } from "./exclusion.js";
import { requireSession } from "./session.js";
import { failStream } from "./status.js";

export type TasksHandlerParameters = Pick<
  CoordinatorServiceParameters,
  "store" | "engine" | "subscriptions" | "shutdown" | "logger"
>;

/** Longest pause between two renewals of a stream's online mark and session. */
const PRESENCE_REFRESH_MS = 30_000;

/**
 * Tasks: a device's task channel; the device counts as online while it is open. Each stream
 * holds its own online mark, renewed (with its session) while it is open and expiring on its
 * own if this coordinator dies; a stream whose session was revoked by a re-Join, or expired,
 * ends with UNAUTHENTICATED at its next renewal.
 */
export function createTasksHandler(
  parameters: TasksHandlerParameters,
): CoordinatorHandlers["Tasks"] {
  const { store, engine, logger } = parameters;
  const session = (token: string) => requireSession(store, token);
  return (call) => {
    let unsubscribe: (() => Promise<void>) | undefined;
    let current: SessionRecord | undefined;
    const streamId = randomUUID();
    let presence: ReturnType<typeof setInterval> | undefined;
    let closed = false;
    const cleanup = async () => {
      closed = true;
      parameters.shutdown?.removeEventListener("abort", endForShutdown);
      clearInterval(presence);
      presence = undefined;
      await unsubscribe?.();
      unsubscribe = undefined;
      if (current) await store.markStreamOffline(current.jobId, current.deviceId, streamId);
    };
    // A stopping coordinator ends task streams at once instead of waiting for devices to
    // hang up (they never would); UNAVAILABLE tells a device to reconnect and retry.
    const endForShutdown = () => {
      void cleanup()
        .catch((error: unknown) => logger.debug({ err: error }, "task stream cleanup failed"))
        .finally(() =>
          failStream(
            call,
            new CoordinatorShuttingDownError(
              "the coordinator is shutting down: reconnect to it after its restart, or to another coordinator",
            ),
            logger,
          ),
        );
    };
    if (parameters.shutdown?.aborted) return endForShutdown();
    parameters.shutdown?.addEventListener("abort", endForShutdown, { once: true });
    call.on("cancelled", () => void cleanup());
    call.on("close", () => void cleanup());
    void (async () => {
      current = await session(call.request.sessionToken);
      const { jobId, deviceId } = current;
      await refuseExcludedDevice(store, jobId, deviceId);
      unsubscribe = await parameters.subscriptions.subscribe(
        store.keys.deviceChannel(jobId, deviceId),
        (message) => {
          const event = JSON.parse(message) as TaskEvent;
          call.write(event);
          if (event.ended) void cleanup().then(() => call.end());
        },
      );
      // Shutdown began (or the device hung up) while subscribing: the stream is already
      // ended, drop the subscription.
      if (closed || parameters.shutdown?.aborted) return void (await cleanup());
      const refreshMs = Math.max(100, Math.min(PRESENCE_REFRESH_MS, current.ttlMs / 3));
      const markTtlMs = 3 * refreshMs;
      await store.markStreamOnline(jobId, deviceId, streamId, markTtlMs);
      // The device hung up while the mark was being written: take it back at once.
      if (closed) return void (await store.markStreamOffline(jobId, deviceId, streamId));
      presence = setInterval(() => {
        void (async () => {
          if (!(await store.findSession(call.request.sessionToken))) {
            await cleanup();
            failStream(
              call,
              new UnauthenticatedError(
                "the session was revoked by a newer Join of this device, or expired: call Join again",
              ),
              logger,
            );
            return;
          }
          if (presence) await store.markStreamOnline(jobId, deviceId, streamId, markTtlMs);
        })().catch((error: unknown) =>
          logger.debug({ err: error, deviceId }, "task stream renewal failed"),
        );
      }, refreshMs);
      await engine.onDeviceOnline(jobId, deviceId);
    })().catch(async (error: unknown) => {
      await cleanup();
      failStream(call, error, logger);
    });
  };
}
