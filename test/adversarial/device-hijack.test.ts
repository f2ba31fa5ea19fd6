import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { joinJob, signedJoinRequest } from "../../client/node/coordinator-client.js";
import { createFedproofClients, unary } from "../../proto/clients.js";
import type { JoinChallenge__Output } from "../../proto/generated/fedproof/v1/JoinChallenge.js";
import type { JoinResponse__Output } from "../../proto/generated/fedproof/v1/JoinResponse.js";
import { derivePublicKey, randomPrivateKey } from "../../protocol/proving/eddsa-poseidon.js";
import { encodePublicKey } from "../../protocol/proving/proof-codec.js";
import { startAdversarialCoordinator } from "../harness/adversarial-coordinator.js";
import { oneDeviceJobSpec } from "../harness/job-specs.js";
import { joinRawDevice, updateHeaderFor, zeroUpdateFor } from "../harness/raw-device.js";
import { snapshotKeys } from "../harness/redis.js";

const VICTIM_PAYOUT = "0x1111111111111111111111111111111111111111";
const ATTACKER_PAYOUT = "0x2222222222222222222222222222222222222222";

/**
 * Device ids are public (job status, provenance). In a job without proofs anyone could Join
 * under one: a second session was issued, the first stayed valid, and the device record
 * (payout address, samples, platform) was overwritten, so credits could be redirected. Now the
 * first Join binds the id to the device's key and every later Join must be signed by it.
 */
describe("a Join under another device's id", () => {
  const target = startAdversarialCoordinator("device-hijack");

  it("is refused with PERMISSION_DENIED and leaves the victim's record and session alone", async () => {
    const { coordinator, redis } = target;
    const job = await coordinator.jobs.createJob(oneDeviceJobSpec());
    const victim = await joinRawDevice(coordinator.address, job.jobId, "victim", 100, {
      payoutAddress: VICTIM_PAYOUT,
      platform: "victim-platform",
    });
    const attacker = createFedproofClients(coordinator.address);
    try {
      const { task } = await victim.next("task");
      const { store } = coordinator;
      const { keys } = store;
      const snapshot = () =>
        snapshotKeys(redis, [keys.devices(job.jobId), keys.deviceSessions(job.jobId)]);
      const before = await snapshot();
      const record = await store.findDevice(job.jobId, "victim");
      expect(record).toMatchObject({ payoutAddress: VICTIM_PAYOUT, samples: 100 });

      // 1. Its own key, its own payout address: the id is bound to the victim's key.
      await expect(
        joinJob(attacker.coordinator, {
          jobId: job.jobId,
          deviceId: "victim",
          privateKey: randomPrivateKey(),
          samples: 99_999,
          payoutAddress: ATTACKER_PAYOUT,
          platform: "attacker",
        }),
      ).rejects.toMatchObject({
        code: status.PERMISSION_DENIED,
        details: expect.stringMatching(/^device id victim is bound to another key/),
      });

      // 2. The victim's public key (it is no secret), signed with the attacker's own key.
      const challenge = await unary<JoinChallenge__Output>((cb) =>
        attacker.coordinator.getJoinChallenge({ jobId: job.jobId, deviceId: "victim" }, cb),
      );
      const forged = {
        ...signedJoinRequest({
          jobId: job.jobId,
          deviceId: "victim",
          nonce: challenge.nonce,
          privateKey: randomPrivateKey(),
          samples: 100,
          payoutAddress: ATTACKER_PAYOUT,
        }),
        publicKey: encodePublicKey(derivePublicKey(victim.privateKey)),
      };
      await expect(
        unary<JoinResponse__Output>((cb) => attacker.coordinator.join(forged, cb)),
      ).rejects.toMatchObject({
        code: status.PERMISSION_DENIED,
        details: expect.stringMatching(
          /join signature does not verify under the key of device victim/,
        ),
      });

      // Record, payout address and sessions are byte for byte what they were.
      expect(await snapshot()).toEqual(before);
      expect(await store.findDevice(job.jobId, "victim")).toEqual(record);

      // The victim's session still works: its update is taken and accepted.
      await victim.submit(updateHeaderFor(task!), zeroUpdateFor(task!));
      const { result } = await victim.next("result");
      expect(result).toMatchObject({ round: 1, accepted: true });
      const [contribution] = await store.contributions(job.jobId, 1);
      expect(contribution).toMatchObject({ deviceId: "victim", samples: 100 });
    } finally {
      attacker.close();
      victim.close();
    }
  });
});
