import { PermissionDeniedError } from "../errors.js";
import type { DeviceExclusion, JobStore } from "../store/job-store.js";

/**
 * Refuses a device excluded from the job (its data proof failed, verify-worker.ts): it may not
 * join again, open a task stream or upload, whatever session or key it holds.
 */
export async function refuseExcludedDevice(
  store: JobStore,
  jobId: string,
  deviceId: string,
): Promise<void> {
  refuseExclusion(jobId, deviceId, await store.findExclusion(jobId, deviceId));
}

/** refuseExcludedDevice for an exclusion already read (JobStore.uploadContext). */
export function refuseExclusion(
  jobId: string,
  deviceId: string,
  exclusion: DeviceExclusion | undefined,
): void {
  if (!exclusion) return;
  throw new PermissionDeniedError(
    `device ${deviceId} is excluded from job ${jobId}: data proof failed in round ${exclusion.round}`,
    { details: exclusion.reason },
  );
}
