import type { TaskEvent } from "../../proto/generated/fedproof/v1/TaskEvent.js";
import type { JobStore } from "../store/job-store.js";
import type { RedisClient } from "../store/redis.js";

/**
 * Events for one device travel over Redis pub/sub, so that whichever coordinator holds
 * the device's open Tasks stream delivers them: coordinators keep no other state.
 */
export async function publishDeviceEvent(
  dependencies: { store: JobStore; publisher: RedisClient },
  jobId: string,
  deviceId: string,
  event: TaskEvent,
): Promise<void> {
  await dependencies.publisher.publish(
    dependencies.store.keys.deviceChannel(jobId, deviceId),
    JSON.stringify(event),
  );
}
