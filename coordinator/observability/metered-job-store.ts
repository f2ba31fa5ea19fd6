import type { RoundState } from "../round/round-states.js";
import { JobStore, type JobStoreParameters, type RoundRecord } from "../store/job-store.js";
import type { FedproofMetrics } from "./metrics.js";

const ENDED: Partial<Record<RoundState, string>> = {
  COMPLETED: "completed",
  FAILED: "failed",
  CANCELLED: "cancelled",
};

/**
 * The coordinator's store, counting rounds where their state changes: only the round engine
 * creates and moves rounds, and only through these two methods, so a round is counted once, by
 * the process whose compare-and-set succeeded, however many engines share the Redis.
 */
export class MeteredJobStore extends JobStore {
  private readonly metrics: FedproofMetrics;

  constructor(parameters: JobStoreParameters & { metrics: FedproofMetrics }) {
    super(parameters);
    this.metrics = parameters.metrics;
  }

  override async createRound(jobId: string, round: RoundRecord, selected: string[]) {
    await super.createRound(jobId, round, selected);
    this.metrics.roundsStarted.inc();
  }

  override async transitionRound(
    ...parameters: Parameters<JobStore["transitionRound"]>
  ): Promise<void> {
    await super.transitionRound(...parameters);
    const state = ENDED[parameters[3]];
    if (state) this.metrics.roundsEnded.inc({ state });
  }
}
