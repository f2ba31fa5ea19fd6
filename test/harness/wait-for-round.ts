import type { JobStore, RoundRecord } from "../../coordinator/store/job-store.js";

/** Polls the store until round `round` of the job is in `state`; throws past `timeoutMs`. */
export async function waitForRound(
  store: JobStore,
  jobId: string,
  round: number,
  state: RoundRecord["state"],
  timeoutMs = 60_000,
): Promise<RoundRecord> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const record = await store.getRound(jobId, round);
    if (record.state === state) return record;
    if (Date.now() > deadline) {
      throw new Error(`round ${round} of job ${jobId} was not ${state} within ${timeoutMs} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
