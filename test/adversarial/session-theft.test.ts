import { type ServiceError, status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { joinJob } from "../../client/node/coordinator-client.js";
import { createFedproofClients, unary } from "../../proto/clients.js";
import type { LeaveResponse__Output } from "../../proto/generated/fedproof/v1/LeaveResponse.js";
import type { TaskEvent__Output } from "../../proto/generated/fedproof/v1/TaskEvent.js";
import { randomPrivateKey } from "../../protocol/proving/eddsa-poseidon.js";
import { startAdversarialCoordinator } from "../harness/adversarial-coordinator.js";
import { joinRawDevice } from "../harness/raw-device.js";

/** Short enough to watch a session expire; task streams renew theirs every TTL / 3. */
const SESSION_TTL_MS = 1_500;

const spec = {
  model: "logreg" as const,
  schema: { featureShape: [16], min: 0, max: 1, classes: 4 },
  rounds: 1,
  // More devices than the tests join: no round starts, the sessions are all that move.
  clientsPerRound: 10,
  minClients: 10,
};

/**
 * A session token is a bearer credential. One that leaked must stop working once the device
 * joins again (a re-Join proves key possession and replaces every earlier session), and one
 * that nobody uses any more must expire, while a device that keeps its task stream open is
 * never logged out.
 */
describe("stolen and stale session tokens", () => {
  const target = startAdversarialCoordinator("session-theft", { sessionTtlMs: SESSION_TTL_MS });

  /** How a Tasks stream opened with `token` ends: its first error. */
  const tasksError = (token: string) =>
    new Promise<ServiceError>((resolve) => {
      const stream = target.clients.coordinator.tasks({ sessionToken: token });
      stream.on("data", () => {});
      stream.on("error", resolve);
    });
  const leave = (token: string) =>
    unary<LeaveResponse__Output>((cb) =>
      target.clients.coordinator.leave({ sessionToken: token }, cb),
    );

  it("refuses the old token after a re-Join, and ends the stream that held it", async () => {
    const { coordinator, clients } = target;
    const job = await coordinator.jobs.createJob(spec);
    const device = await joinRawDevice(coordinator.address, job.jobId, "device");
    const oldToken = device.session.sessionToken;
    const oldStreamEnded = new Promise<ServiceError>((resolve) => {
      const stream = clients.coordinator.tasks({ sessionToken: oldToken });
      stream.on("data", (_event: TaskEvent__Output) => {});
      stream.on("error", resolve);
    });
    try {
      const again = await joinJob(clients.coordinator, {
        jobId: job.jobId,
        deviceId: "device",
        privateKey: device.privateKey,
        samples: 100,
      });
      expect(again.sessionToken).not.toBe(oldToken);
      expect(await coordinator.store.findSession(oldToken)).toBeUndefined();

      const refused = await tasksError(oldToken);
      expect(refused).toMatchObject({
        code: status.UNAUTHENTICATED,
        details: expect.stringMatching(/revoked/),
      });
      await expect(
        device.submit(
          { jobId: job.jobId, round: 1, globalModelHash: "", samples: 100, bits: 16 },
          new Uint8Array(2),
        ),
      ).rejects.toMatchObject({ code: status.UNAUTHENTICATED });
      await expect(leave(oldToken)).rejects.toMatchObject({ code: status.UNAUTHENTICATED });
      // Streams opened before the re-Join end at their next renewal.
      expect(await oldStreamEnded).toMatchObject({
        code: status.UNAUTHENTICATED,
        details: expect.stringMatching(/revoked by a newer Join/),
      });
      // The new session is the device's, and works.
      await expect(leave(again.sessionToken)).resolves.toEqual({});
    } finally {
      device.close();
    }
  });

  it("expires a session nobody uses, and keeps one alive while its task stream is open", async () => {
    const { coordinator, clients } = target;
    const job = await coordinator.jobs.createJob(spec);
    const idle = await joinJob(clients.coordinator, {
      jobId: job.jobId,
      deviceId: "idle",
      privateKey: randomPrivateKey(),
      samples: 100,
    });
    const listening = await joinRawDevice(coordinator.address, job.jobId, "listening");
    try {
      await new Promise((resolve) => setTimeout(resolve, SESSION_TTL_MS * 2));
      expect(await tasksError(idle.sessionToken)).toMatchObject({
        code: status.UNAUTHENTICATED,
        details: expect.stringMatching(/expired/),
      });
      expect(await coordinator.store.onlineDevices(job.jobId)).toEqual(["listening"]);
      await expect(leave(listening.session.sessionToken)).resolves.toEqual({});
      expect(await coordinator.store.onlineDevices(job.jobId)).toEqual([]);
    } finally {
      listening.close();
    }
  });

  it("keeps a device online while any of its task streams is open", async () => {
    const { coordinator } = target;
    const job = await coordinator.jobs.createJob(spec);
    const device = await joinRawDevice(coordinator.address, job.jobId, "two-streams");
    const second = createFedproofClients(coordinator.address);
    try {
      const stream = second.coordinator.tasks({ sessionToken: device.session.sessionToken });
      stream.on("data", () => {});
      stream.on("error", () => {});
      const online = () => coordinator.store.onlineDevices(job.jobId);
      await waitFor(async () => (await online()).length === 1);
      // Closing one of the two streams leaves the device online.
      stream.cancel();
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(await online()).toEqual(["two-streams"]);
      // Closing the last takes it offline.
      device.close();
      await waitFor(async () => (await online()).length === 0);
    } finally {
      second.close();
      device.close();
    }
  });
});

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; ) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error("condition not met in time");
}
