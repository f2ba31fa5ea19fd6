import { type ServiceError, status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { joinJob, signedJoinRequest } from "../../client/node/coordinator-client.js";
import { unary } from "../../proto/clients.js";
import type { JoinChallenge__Output } from "../../proto/generated/fedproof/v1/JoinChallenge.js";
import type { JoinRequest } from "../../proto/generated/fedproof/v1/JoinRequest.js";
import type { JoinResponse__Output } from "../../proto/generated/fedproof/v1/JoinResponse.js";
import { randomPrivateKey } from "../../protocol/proving/eddsa-poseidon.js";
import { startAdversarialCoordinator } from "../harness/adversarial-coordinator.js";

const JOINS_PER_SECOND = 5;

const spec = {
  model: "logreg" as const,
  schema: { featureShape: [16], min: 0, max: 1, classes: 4 },
  rounds: 1,
  clientsPerRound: 50,
  minClients: 50,
};

/**
 * Every Join costs a signature check and may enrol a device. A flood of Joins into one job
 * is cut at the coordinator's per-job rate (a Redis counter per second, shared by every
 * coordinator on the Redis) with RESOURCE_EXHAUSTED, before any signature is checked; other
 * jobs are unaffected and the job takes Joins again a second later. Every Join field is
 * bounded, refused with INVALID_ARGUMENT and a short quoted prefix.
 */
describe("Joins flooding a job", () => {
  const target = startAdversarialCoordinator("join-rate-limit", {
    joinsPerSecond: JOINS_PER_SECOND,
  });

  const join = (request: JoinRequest) =>
    unary<JoinResponse__Output>((cb) => target.clients.coordinator.join(request, cb));
  const signed = async (jobId: string, deviceId: string) => {
    const challenge = await unary<JoinChallenge__Output>((cb) =>
      target.clients.coordinator.getJoinChallenge({ jobId, deviceId }, cb),
    );
    return signedJoinRequest({
      jobId,
      deviceId,
      nonce: challenge.nonce,
      privateKey: randomPrivateKey(),
      samples: 100,
    });
  };

  it("are cut at the job's rate with RESOURCE_EXHAUSTED, and the job recovers", async () => {
    const { coordinator, clients } = target;
    const job = await coordinator.jobs.createJob(spec);
    const other = await coordinator.jobs.createJob(spec);
    const ids = Array.from({ length: 4 * JOINS_PER_SECOND }, (_, i) => `flood-${i}`);
    // Challenges have their own, larger budget: a device may need a second one.
    const requests = [];
    for (const id of ids) requests.push(await signed(job.jobId, id));
    const outcomes = await Promise.allSettled(requests.map(join));
    const refused = outcomes.filter((o) => o.status === "rejected");
    const joined = outcomes.length - refused.length;
    // One window, or two if the burst straddled a second boundary.
    expect(joined).toBeGreaterThanOrEqual(1);
    expect(joined).toBeLessThanOrEqual(2 * JOINS_PER_SECOND);
    for (const outcome of refused) {
      expect((outcome as PromiseRejectedResult).reason).toMatchObject({
        code: status.RESOURCE_EXHAUSTED,
        details: `join rate limit for job ${job.jobId}: more than ${JOINS_PER_SECOND} Joins in one second; retry shortly`,
      });
    }
    expect(await coordinator.store.countDevices(job.jobId)).toBe(joined);

    // The limit is per job: another job takes a Join at once.
    await expect(
      joinJob(clients.coordinator, {
        jobId: other.jobId,
        deviceId: "elsewhere",
        privateKey: randomPrivateKey(),
        samples: 100,
      }),
    ).resolves.toMatchObject({ deviceId: "elsewhere" });

    // A second later the refused devices get in, on a fresh nonce (theirs were not used).
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const retry = requests[outcomes.findIndex((o) => o.status === "rejected")]!;
    await expect(join(retry)).resolves.toMatchObject({ deviceId: retry.deviceId });
  });
});

describe("Join fields", () => {
  const target = startAdversarialCoordinator("join-fields");

  it("are bounded: INVALID_ARGUMENT with a short quoted prefix, nothing stored", async () => {
    const { coordinator, clients } = target;
    const job = await coordinator.jobs.createJob(spec);
    const challenge = await unary<JoinChallenge__Output>((cb) =>
      clients.coordinator.getJoinChallenge({ jobId: job.jobId, deviceId: "device" }, cb),
    );
    const request = signedJoinRequest({
      jobId: job.jobId,
      deviceId: "device",
      nonce: challenge.nonce,
      privateKey: randomPrivateKey(),
      samples: 100,
    });
    const cases: [Partial<JoinRequest>, RegExp][] = [
      [{ deviceId: "d/../../etc" }, /^device id "d\/..\/..\/etc" must be 1–128 characters/],
      [{ deviceId: "x".repeat(129) }, /^device id "x{64}"… \(129 characters\) must be 1–128/],
      [
        { platform: "p".repeat(100_000) },
        /^platform "p{32}"… \(100000 characters\) must be at most 64/,
      ],
      [
        { backend: "wasm\nforged log line" },
        /^backend "wasm\\nforged log line" must be at most 64 printable/,
      ],
      [
        { payoutAddress: "0x1234" },
        /^payout address "0x1234" is not a 0x-prefixed 20-byte hex address$/,
      ],
      [{ publicKey: new Uint8Array(65) }, /^public key must be 64 bytes, got 65$/],
      [
        { datasetCommitment: new Uint8Array(31) },
        /^dataset commitment must be 0 or 32 bytes, got 31$/,
      ],
      [
        { joinSignature: new Uint8Array(1 << 20) },
        /^join signature must be 96 bytes, got 1048576$/,
      ],
      [
        { nonce: "zz".repeat(100_000) },
        /^join nonce "z{16}"… \(200000 characters\) is not the 62 hex/,
      ],
    ];
    for (const [change, message] of cases) {
      const error = await join({ ...request, ...change }).catch((e: ServiceError) => e);
      expect(error).toMatchObject({ code: status.INVALID_ARGUMENT });
      expect((error as ServiceError).details).toMatch(message);
      expect((error as ServiceError).details.length).toBeLessThan(200);
    }
    expect(await coordinator.store.countDevices(job.jobId)).toBe(0);
    // The nonce was never consumed by a malformed Join.
    await expect(join(request)).resolves.toMatchObject({ deviceId: "device" });
  });

  function join(request: JoinRequest) {
    return unary<JoinResponse__Output>((cb) => target.clients.coordinator.join(request, cb));
  }
});
