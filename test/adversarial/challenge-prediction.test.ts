import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { specToMessage } from "../../coordinator/jobs/job-messages.js";
import { bearer, createFedproofClients, unary } from "../../proto/clients.js";
import { specHash } from "../../protocol/job/job-spec.js";
import { isChallengeSeed } from "../../protocol/proving/challenge-seed.js";
import { sampledIndices } from "../../protocol/proving/dataset-commitment.js";
import { hashToFieldPair, idToField } from "../../protocol/proving/field.js";
import { poseidonHash } from "../../protocol/proving/poseidon.js";
import { contextValue, DATA_VALIDITY_INDEX } from "../../protocol/proving/proof-context.js";
import {
  joinProvingDevice,
  provenUpload,
  provingJobSpec,
  startProvingAdversarialCoordinator,
  testRecords,
} from "../harness/proving-device.js";
import { isServiceError } from "../harness/raw-device.js";

/**
 * The attack: a DataValidity challenge that depends only on (job, round, global model, device)
 * is known before the round's task arrives, so a device holding two real records can commit to
 * a dataset that is well formed exactly where the challenge will look. The round's challenge
 * seed, committed to in the anchored spec and revealed only with the task, makes that prediction
 * worthless, and a proof made for the predicted challenge is refused.
 */
describe("challenge prediction", () => {
  const target = startProvingAdversarialCoordinator("challenge-prediction");

  it("refuses a challenge commitment chosen by the researcher", async () => {
    const { coordinator } = target;
    const clients = createFedproofClients(coordinator.address);
    try {
      const spec = { ...provingJobSpec(), challengeCommitment: "ab".repeat(32) };
      const error = await unary((cb) =>
        clients.jobs.createJob({ spec: specToMessage(spec) }, bearer("test-token"), cb),
      ).catch((e: unknown) => e);
      expect(isServiceError(error) && error.code).toBe(status.INVALID_ARGUMENT);
      expect(isServiceError(error) && error.details).toMatch(
        /spec\.challengeCommitment is set by the coordinator, not by the researcher/,
      );
    } finally {
      clients.close();
    }
  });

  it("makes the pre-task prediction wrong and refuses a proof made for it", async () => {
    const { coordinator, harness } = target;
    const { store } = coordinator;
    const job = await harness.jobs.createJob(provingJobSpec({ roundDeadlineSeconds: 600 }));
    const circuits = (await harness.jobs.jobCircuits(job.jobId))!;
    const circuitIds = {
      updateNorm: circuits.updateNorm.id,
      dataValidity: circuits.dataValidity.id,
    };
    // The seeds are fixed by a commitment the spec hash (what the chain registers) covers.
    const commitment = job.spec.challengeCommitment!;
    expect(commitment).toMatch(/^[0-9a-f]{64}$/);
    expect(job.specHash).toBe(specHash(job.spec));
    expect(specHash({ ...job.spec, challengeCommitment: undefined })).not.toBe(job.specHash);

    // Before any task: the challenge as (job, round, model, device) alone would make it.
    const deviceId = "predictor";
    const predicted = poseidonHash([
      idToField(job.jobId),
      1n,
      ...hashToFieldPair(job.initialModelHash),
      idToField(deviceId),
      DATA_VALIDITY_INDEX,
    ]);
    const wanted = new Set(sampledIndices(predicted, 64, 2));
    // 64 records, well formed only where the predicted challenge opens them (label 7 is outside
    // the job's two classes).
    const device = await joinProvingDevice(
      coordinator.address,
      job.jobId,
      deviceId,
      testRecords(64, (i) => (wanted.has(i) ? i % 2 : 7)),
    );
    try {
      const { task } = await device.next("task");
      expect(task!.globalModelHash).toBe(job.initialModelHash);
      expect(isChallengeSeed(commitment, 1, task!.challengeSeed)).toBe(true);
      const actual = contextValue(
        {
          jobId: job.jobId,
          round: 1,
          globalModelHash: task!.globalModelHash,
          deviceId,
          roundSeed: task!.challengeSeed,
        },
        DATA_VALIDITY_INDEX,
      );
      expect(actual).not.toBe(predicted);
      expect(sampledIndices(actual, 64, 2)).not.toEqual(sampledIndices(predicted, 64, 2));

      // The attacker proves its records where it predicted the challenge (the witness holds
      // there); its chunk proofs use the round's real context.
      const upload = await provenUpload({
        harness,
        task: task!,
        deviceId,
        dataset: device.dataset,
        circuitIds,
        dataContext: predicted,
      });
      const before = await store.getRound(job.jobId, 1);
      await device.submit(upload.header, upload.bytes);
      const { result } = await device.next("result", 60_000);
      expect(result!.accepted).toBe(false);
      expect(result!.reason).toBe(
        "proof rejected (ContextMismatchError): the data-validity proof is bound to another job, round, parent model, device or round challenge seed; device predictor is excluded from the job",
      );

      // Nothing of the round moved but its rejection count; the model is the initial one.
      const after = await store.getRound(job.jobId, 1);
      expect(after).toEqual({
        ...before,
        rejected: before.rejected + 1,
        proofsRejected: (before.proofsRejected ?? 0) + 1,
      });
      expect(after).toMatchObject({
        state: "OPEN",
        accepted: 0,
        challengeSeed: task!.challengeSeed,
      });
      expect(await store.contributions(job.jobId, 1)).toEqual([]);
      expect((await store.getJob(job.jobId)).currentModelHash).toBe(job.initialModelHash);
    } finally {
      device.close();
    }
  }, 180_000);
});
