import { UnauthenticatedError } from "../errors.js";
import type { JobStore, SessionRecord } from "../store/job-store.js";

/**
 * The session a device's token names; every call after Join carries one. Finding it renews
 * it (JobStore.findSession), so a session expires only after its TTL without any use, and a
 * re-Join of the device has already deleted the token it replaced.
 */
export async function requireSession(store: JobStore, token: string): Promise<SessionRecord> {
  if (!token) throw new UnauthenticatedError("missing session token: call Join first");
  const found = await store.findSession(token);
  if (!found) {
    throw new UnauthenticatedError(
      "unknown, expired or revoked session token (a newer Join of this device replaces it): call Join again",
    );
  }
  return found;
}
