import type { TaskEvent } from "../../proto/generated/fedproof/v1/TaskEvent.js";
import type { JobStore } from "../store/job-store.js";
import type { RedisClient } from "../store/redis.js";

/** Commands per pipeline: bounds what one write to Redis holds, however large the fleet. */
const PIPELINE_LENGTH = 1_000;

export interface DeviceEventDependencies {
  store: JobStore;
  publisher: RedisClient;
}

/**
 * Events for one device travel over Redis pub/sub, so that whichever coordinator holds
 * the device's open Tasks stream delivers them: coordinators keep no other state.
 */
export async function publishDeviceEvent(
  dependencies: DeviceEventDependencies,
  jobId: string,
  deviceId: string,
  event: TaskEvent,
): Promise<void> {
  await publishDeviceEvents(dependencies, jobId, [deviceId], event);
}

/**
 * One event to many devices (a round's task, a job's end): encoded once and sent in one
 * pipeline, not one round trip per device. PUBLISH names no key, so a cluster takes the
 * pipeline on any node and broadcasts each message to every node.
 */
export async function publishDeviceEvents(
  dependencies: DeviceEventDependencies,
  jobId: string,
  deviceIds: readonly string[],
  event: TaskEvent,
): Promise<void> {
  if (deviceIds.length === 0) return;
  const message = JSON.stringify(event);
  const { keys } = dependencies.store;
  if (deviceIds.length === 1) {
    await dependencies.publisher.publish(keys.deviceChannel(jobId, deviceIds[0]!), message);
    return;
  }
  for (let start = 0; start < deviceIds.length; start += PIPELINE_LENGTH) {
    const pipeline = dependencies.publisher.pipeline();
    for (const deviceId of deviceIds.slice(start, start + PIPELINE_LENGTH)) {
      pipeline.publish(keys.deviceChannel(jobId, deviceId), message);
    }
    const results = (await pipeline.exec()) ?? [];
    for (const [error] of results) if (error) throw error;
  }
}
