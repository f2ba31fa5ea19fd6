import type { sendUnaryData } from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { JobEvent } from "../../proto/generated/fedproof/v1/JobEvent.js";
import type { JobsHandlers } from "../../proto/generated/fedproof/v1/Jobs.js";
import { NotFoundError } from "../errors.js";
import type { JobService } from "../jobs/job-service.js";
import type { RoundEngine } from "../round/round-engine.js";
import { isTerminalJobState, type JobState } from "../round/round-states.js";
import type { ArtifactStore } from "../store/artifact-store.js";
import type { JobStore } from "../store/job-store.js";
import { requireBearer } from "./auth.js";
import { specFromMessage } from "./convert.js";
import { streamModel } from "./model-stream.js";
import { answerUnary, failStream } from "./status.js";
import type { Subscriptions } from "./subscriptions.js";

export interface JobsServiceParameters {
  jobs: JobService;
  store: JobStore;
  artifacts: ArtifactStore;
  engine: RoundEngine;
  subscriptions: Subscriptions;
  /** Bearer token that CreateJob and CancelJob require. */
  token: string;
  logger: Logger;
}

/** Researcher-facing handlers. Writes need the operator's bearer token; reads are public. */
export function createJobsHandlers(parameters: JobsServiceParameters): JobsHandlers {
  const { jobs, store, engine, logger } = parameters;
  const answer = <T>(work: () => Promise<T>, callback: sendUnaryData<T>) =>
    answerUnary(work, callback, logger);

  return {
    CreateJob(call, callback) {
      answer(async () => {
        requireBearer(call.metadata, parameters.token);
        const job = await jobs.createJob(specFromMessage(call.request.spec));
        logger.info(
          { jobId: job.jobId, model: job.spec.model, rounds: job.spec.rounds },
          "job created",
        );
        return jobs.describeJob(job.jobId);
      }, callback);
    },

    GetJob(call, callback) {
      answer(() => jobs.describeJob(call.request.jobId), callback);
    },

    ListJobs(call, callback) {
      answer(async () => {
        const ids = await store.listJobIds(call.request.limit || 100);
        return { jobs: await Promise.all(ids.map((id) => jobs.describeJob(id))) };
      }, callback);
    },

    WatchJob(call) {
      let unsubscribe: (() => Promise<void>) | undefined;
      const finish = async () => {
        await unsubscribe?.();
        unsubscribe = undefined;
      };
      call.on("cancelled", () => void finish());
      void (async () => {
        const { jobId } = call.request;
        const initial = await jobs.describeJob(jobId);
        call.write({
          jobId,
          type: "snapshot",
          round: initial.currentRound,
          message: "",
          job: initial,
        });
        if (isTerminalJobState(String(initial.state).replace("JOB_STATE_", "") as JobState)) {
          call.end();
          return;
        }
        unsubscribe = await parameters.subscriptions.subscribe(
          store.keys.jobEvents(jobId),
          (message) => {
            const event = JSON.parse(message) as JobEvent;
            void jobs.describeJob(jobId).then((job) => {
              call.write({ ...event, job });
              if (
                event.type === "job-completed" ||
                event.type === "job-failed" ||
                event.type === "job-cancelled"
              ) {
                void finish().then(() => call.end());
              }
            });
          },
        );
      })().catch(async (error: unknown) => {
        await finish();
        failStream(call, error, logger);
      });
    },

    CancelJob(call, callback) {
      answer(async () => {
        requireBearer(call.metadata, parameters.token);
        await store.getJob(call.request.jobId);
        await engine.cancelJob(
          call.request.jobId,
          call.request.reason || "cancelled by the researcher",
        );
        return jobs.describeJob(call.request.jobId);
      }, callback);
    },

    DownloadModel(call) {
      void (async () => {
        const job = await store.getJob(call.request.jobId);
        let hash = job.currentModelHash;
        if (call.request.round > 0) {
          const round = await store.getRound(job.jobId, call.request.round);
          if (!round.modelHash)
            throw new NotFoundError(
              `round ${round.round} of job ${job.jobId} has no model yet (${round.state})`,
            );
          hash = round.modelHash;
        }
        await streamModel(call, { store, artifacts: parameters.artifacts }, hash);
      })().catch((error: unknown) => failStream(call, error, logger));
    },
  };
}
