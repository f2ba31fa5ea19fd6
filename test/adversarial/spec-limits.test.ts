import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { specToMessage } from "../../coordinator/jobs/job-messages.js";
import { bearer, unary } from "../../proto/clients.js";
import type { JobInfo__Output } from "../../proto/generated/fedproof/v1/JobInfo.js";
import type { JoinResponse__Output } from "../../proto/generated/fedproof/v1/JoinResponse.js";
import type { JobSpecInput } from "../../protocol/job/job-spec.js";
import { startAdversarialCoordinator } from "../harness/adversarial-coordinator.js";

const small: JobSpecInput = {
  model: "logreg",
  schema: { featureShape: [16], min: 0, max: 1, classes: 4 },
  rounds: 1,
};

/**
 * Specs and requests built to hurt the coordinator: each must be refused up front with
 * INVALID_ARGUMENT naming the field, in a short message, and leave it serving other jobs.
 */
describe("spec and request limits over the gRPC API", () => {
  const target = startAdversarialCoordinator("spec-limits");

  const create = (spec: JobSpecInput) =>
    unary<JobInfo__Output>((cb) =>
      target.clients.jobs.createJob({ spec: specToMessage(spec) }, bearer("test-token"), cb),
    );

  it("refuses a 20M-feature mlp before building it, and goes on serving", async () => {
    const { coordinator, clients } = target;
    // 4·10⁹ parameters: building it once took the coordinator's whole memory.
    const huge = {
      ...small,
      model: "mlp" as const,
      schema: { ...small.schema, featureShape: [20_000_000] },
    };
    await expect(create(huge)).rejects.toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: expect.stringMatching(/^invalid job spec: spec\.model: .*maxParameters/),
    });
    expect(await coordinator.store.listJobIds(10)).toEqual([]);

    const job = await create(small);
    expect(job.state).toBe("JOB_STATE_WAITING");
    const fetched = await unary<JobInfo__Output>((cb) =>
      clients.jobs.getJob({ jobId: job.jobId }, cb),
    );
    expect(fetched.paramCount).toBe(String(16 * 4 + 4));
  });

  it("refuses an enrolment timeout a Node timer cannot hold", async () => {
    // 25 days is above 2³¹ − 1 ms: the timer would fire after 1 ms and fail the job at once.
    await expect(
      create({ ...small, enrolmentTimeoutSeconds: 25 * 24 * 3600 }),
    ).rejects.toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: expect.stringMatching(/spec\.enrolmentTimeoutSeconds/),
    });
    await expect(create({ ...small, roundDeadlineSeconds: 25 * 24 * 3600 })).rejects.toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: expect.stringMatching(/spec\.roundDeadlineSeconds/),
    });
  });

  it("refuses robust-strategy parameters that no round could satisfy", async () => {
    await expect(
      create({
        ...small,
        clientsPerRound: 2,
        strategy: { name: "krum", params: { byzantine: 100 } },
      }),
    ).rejects.toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: expect.stringMatching(/spec\.strategy\.params\.byzantine: .*2f \+ 3 = 203/),
    });
    // byzantine = clientsPerRound: at the boundary, still impossible.
    await expect(
      create({
        ...small,
        clientsPerRound: 4,
        minClients: 4,
        strategy: { name: "krum", params: { byzantine: 4 } },
      }),
    ).rejects.toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: expect.stringMatching(/spec\.strategy\.params\.byzantine/),
    });
    // β = 0.1 of 4 updates trims nothing: a plain mean calling itself robust.
    await expect(
      create({
        ...small,
        clientsPerRound: 4,
        minClients: 4,
        strategy: { name: "trimmed-mean", params: { beta: 0.1 } },
      }),
    ).rejects.toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: expect.stringMatching(/spec\.strategy\.params\.beta/),
    });
  });

  it("answers a 1 MB device id with a short INVALID_ARGUMENT", async () => {
    const { coordinator, clients } = target;
    const job = await create(small);
    const deviceId = "d".repeat(1024 * 1024);
    const join = unary<JoinResponse__Output>((cb) =>
      clients.coordinator.join({ jobId: job.jobId, deviceId, samples: 100 }, cb),
    );
    const error = await join.then(
      () => undefined,
      (refusal: { code: number; details: string }) => refusal,
    );
    expect(error).toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: expect.stringMatching(/^device id "d+"… \(1048576 characters\) must be 1–128/),
    });
    expect(error!.details.length).toBeLessThan(300);
    expect(await coordinator.store.countDevices(job.jobId)).toBe(0);
  });
});
