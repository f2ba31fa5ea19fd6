import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { signedJoinRequest } from "../../client/node/coordinator-client.js";
import { unary } from "../../proto/clients.js";
import type { JoinChallenge__Output } from "../../proto/generated/fedproof/v1/JoinChallenge.js";
import type { JoinRequest } from "../../proto/generated/fedproof/v1/JoinRequest.js";
import type { JoinResponse__Output } from "../../proto/generated/fedproof/v1/JoinResponse.js";
import { randomPrivateKey } from "../../protocol/proving/eddsa-poseidon.js";
import { startAdversarialCoordinator } from "../harness/adversarial-coordinator.js";

const spec = {
  model: "logreg" as const,
  schema: { featureShape: [16], min: 0, max: 1, classes: 4 },
  rounds: 1,
  clientsPerRound: 5,
  minClients: 5,
};

/**
 * A Join is signed over a nonce the coordinator issued for one job and one device id, and the
 * nonce is used once: a Join captured on the wire cannot be sent again (to revoke the device's
 * session, or to take its id after the device lost it), nor moved to another job or device id.
 */
describe("a captured or moved Join", () => {
  const target = startAdversarialCoordinator("join-replay");

  const challenge = (jobId: string, deviceId: string) =>
    unary<JoinChallenge__Output>((cb) =>
      target.clients.coordinator.getJoinChallenge({ jobId, deviceId }, cb),
    );
  const join = (request: JoinRequest) =>
    unary<JoinResponse__Output>((cb) => target.clients.coordinator.join(request, cb));
  const signed = async (jobId: string, deviceId: string, privateKey = randomPrivateKey()) =>
    signedJoinRequest({
      jobId,
      deviceId,
      nonce: (await challenge(jobId, deviceId)).nonce,
      privateKey,
      samples: 100,
    });

  it("is refused when replayed: the nonce is single-use, and the first session stays", async () => {
    const { coordinator } = target;
    const job = await coordinator.jobs.createJob(spec);
    const captured = await signed(job.jobId, "device");
    const first = await join(captured);
    const record = await coordinator.store.findDevice(job.jobId, "device");

    await expect(join(captured)).rejects.toMatchObject({
      code: status.UNAUTHENTICATED,
      details: expect.stringMatching(
        /^join nonce [0-9a-f]{12}… of device device is unknown, expired or already used: call GetJoinChallenge again$/,
      ),
    });
    // The replay revoked nothing and rewrote nothing.
    expect(await coordinator.store.findSession(first.sessionToken)).toMatchObject({
      jobId: job.jobId,
      deviceId: "device",
    });
    expect(await coordinator.store.findDevice(job.jobId, "device")).toEqual(record);
  });

  it("lets exactly one of two racing copies of a Join through", async () => {
    const { coordinator } = target;
    const job = await coordinator.jobs.createJob(spec);
    const request = await signed(job.jobId, "racer");
    const outcomes = await Promise.allSettled([join(request), join(request)]);
    expect(outcomes.filter((o) => o.status === "fulfilled")).toHaveLength(1);
    expect(outcomes.find((o) => o.status === "rejected")).toMatchObject({
      reason: { code: status.UNAUTHENTICATED },
    });
  });

  it("refuses a Join signed for another job", async () => {
    const { coordinator } = target;
    const a = await coordinator.jobs.createJob(spec);
    const b = await coordinator.jobs.createJob(spec);
    const forA = await signed(a.jobId, "device");
    // As is, and with a nonce of job b: the signature covers job a's id and nonce.
    for (const moved of [
      { ...forA, jobId: b.jobId },
      { ...forA, jobId: b.jobId, nonce: (await challenge(b.jobId, "device")).nonce },
    ]) {
      await expect(join(moved)).rejects.toMatchObject({
        code: status.PERMISSION_DENIED,
        details: expect.stringMatching(/join signature does not verify/),
      });
    }
    expect(await coordinator.store.countDevices(b.jobId)).toBe(0);
    // The Join was never used, so it still works where it was meant for.
    await expect(join(forA)).resolves.toMatchObject({ deviceId: "device" });
  });

  it("refuses a Join signed for another device id, and a nonce issued for another device", async () => {
    const { coordinator } = target;
    const job = await coordinator.jobs.createJob(spec);
    const forAlice = await signed(job.jobId, "alice");
    await expect(join({ ...forAlice, deviceId: "mallory" })).rejects.toMatchObject({
      code: status.PERMISSION_DENIED,
      details: expect.stringMatching(/join signature does not verify/),
    });
    // Mallory signs properly, over Alice's nonce: the nonce is not hers, and stays Alice's.
    const mallory = signedJoinRequest({
      jobId: job.jobId,
      deviceId: "mallory",
      nonce: forAlice.nonce!,
      privateKey: randomPrivateKey(),
      samples: 100,
    });
    await expect(join(mallory)).rejects.toMatchObject({
      code: status.UNAUTHENTICATED,
      details: expect.stringMatching(/of device mallory is unknown, expired or already used/),
    });
    expect(await coordinator.store.findDevice(job.jobId, "mallory")).toBeUndefined();
    await expect(join(forAlice)).resolves.toMatchObject({ deviceId: "alice" });
  });

  it("refuses a Join without a nonce", async () => {
    const { coordinator } = target;
    const job = await coordinator.jobs.createJob(spec);
    const request = await signed(job.jobId, "device");
    await expect(join({ ...request, nonce: "" })).rejects.toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: expect.stringMatching(/call GetJoinChallenge first/),
    });
  });
});
