import { describe, expect, it } from "vitest";
import { TEST_CIRCUITS } from "../../circuits/circuit-catalog.js";
import { exportBundle } from "../../coordinator/chain/export-bundle.js";
import { storedRoundLeafInputs } from "../../coordinator/chain/stored-round-leaves.js";
import { verificationKeysOf } from "../../coordinator/jobs/job-circuits.js";
import { createFedproofClients, unary } from "../../proto/clients.js";
import type { RoundProvenance__Output } from "../../proto/generated/fedproof/v1/RoundProvenance.js";
import type { RoundTask__Output } from "../../proto/generated/fedproof/v1/RoundTask.js";
import { UPDATE_NORM_SIGNAL_INDEX } from "../../protocol/proofs/public-signals.js";
import { type G1Hex, kzgCommit, kzgOpen, toField } from "../../protocol/proving/kzg.js";
import { kzgChallenge } from "../../protocol/proving/kzg-challenge.js";
import {
  type ChunkKzgUpload,
  encodeKzgChunk,
  updateNormInputs,
} from "../../protocol/proving/prove-update-norm.js";
import { quantizedNormBound } from "../../protocol/update/quantize.js";
import {
  buildBundleRound,
  bundleVerificationKeyHash,
  parseProvenanceBundle,
} from "../../verifier/provenance-bundle.js";
import {
  joinProvingDevice,
  PROVING_SCHEMA,
  provenUpload,
  provingJobSpec,
  startProvingAdversarialCoordinator,
  testRecords,
} from "../harness/proving-device.js";

/**
 * Attacks on the KZG tie between a chunk's homomorphic commitment and its UpdateNorm proof,
 * through the public gRPC API against a real coordinator and verify worker: a commitment to
 * other values than the uploaded bytes, a proof made for a challenge of the device's choosing,
 * a wrong opening, a commitment swapped in from another chunk. Each is refused with its reason,
 * and the round's accepted set and record are as before but for the rejection count.
 */

// Eight classes: a logistic regression over 8 features has 8·8 + 8 = 72 parameters, two chunks
// of the n = 64 test circuit (a swap needs a second chunk).
const CLASSES = 8;
const spec = () =>
  provingJobSpec({
    schema: { ...PROVING_SCHEMA, classes: CLASSES },
    roundDeadlineSeconds: 600,
  });

type Upload = Awaited<ReturnType<typeof provenUpload>>;

describe("KZG commitment attacks", () => {
  const target = startProvingAdversarialCoordinator("kzg-commitment");

  /** A fresh job and device; `forge` turns the honest upload into the attack. */
  async function attack(
    deviceId: string,
    forge: (upload: Upload, task: RoundTask__Output) => Promise<Upload> | Upload,
    options: { tamperKzg?: (kzg: ChunkKzgUpload[]) => ChunkKzgUpload[] } = {},
  ) {
    const { coordinator, harness } = target;
    const { store } = coordinator;
    const job = await harness.jobs.createJob(spec());
    const circuits = (await harness.jobs.jobCircuits(job.jobId))!;
    const device = await joinProvingDevice(
      coordinator.address,
      job.jobId,
      deviceId,
      testRecords(16),
    );
    try {
      const { task } = await device.next("task");
      expect(Number(task!.paramCount)).toBe(72);
      const honest = await provenUpload({
        harness,
        task: task!,
        deviceId,
        dataset: device.dataset,
        circuitIds: { updateNorm: circuits.updateNorm.id, dataValidity: circuits.dataValidity.id },
        classes: CLASSES,
        ...options,
      });
      expect(honest.kzg).toHaveLength(2);
      const upload = await forge(honest, task!);
      const before = await store.getRound(job.jobId, 1);
      await device.submit(upload.header, upload.bytes);
      const { result } = await device.next("result", 60_000);
      const after = await store.getRound(job.jobId, 1);
      return { job, result: result!, before, after, upload };
    } finally {
      device.close();
    }
  }

  /** Refused with `reason`, and nothing of the round moved but its rejection counts. */
  async function expectRefused(outcome: Awaited<ReturnType<typeof attack>>, reason: string) {
    const { store } = target.coordinator;
    expect(outcome.result.accepted).toBe(false);
    expect(outcome.result.reason).toBe(reason);
    expect(outcome.after).toEqual({
      ...outcome.before,
      rejected: outcome.before.rejected + 1,
      proofsRejected: (outcome.before.proofsRejected ?? 0) + 1,
    });
    expect(outcome.after).toMatchObject({ state: "OPEN", accepted: 0 });
    expect(await store.contributions(outcome.job.jobId, 1)).toEqual([]);
    expect((await store.getJob(outcome.job.jobId)).currentModelHash).toBe(
      outcome.job.initialModelHash,
    );
    // A KZG failure is the update's, not the data's: the device stays in the job.
    expect(await store.excludedDevices(outcome.job.jobId)).toEqual([]);
  }

  /**
   * Re-proves chunk 0 of the same update with the KZG commitment and challenge `choose` picks
   * (the circuit still computes the evaluation over the real, range-checked values), and opens
   * the committed polynomial there: what a device running its own prover can do.
   */
  function reproveChunk0(
    choose: (honest: { coefficients: bigint[]; x: bigint; signals: bigint[] }) => Promise<{
      commitment: G1Hex;
      x: bigint;
      coefficients: bigint[];
    }>,
  ) {
    return async (upload: Upload, task: RoundTask__Output): Promise<Upload> => {
      const { harness } = target;
      const { chunks } = await updateNormInputs({
        q: upload.q,
        circuit: { n: TEST_CIRCUITS.updateNorm.n, bits: TEST_CIRCUITS.updateNorm.bits },
        salt: upload.salt,
        context: upload.context,
        c2: quantizedNormBound(task.clipNorm, task.quantization!.scale),
        srs: harness.srs,
        blindings: upload.kzg.map((k) => k.blinding),
      });
      const honest = chunks[0]!;
      const chosen = await choose({
        coefficients: honest.kzg.coefficients,
        x: honest.kzg.challenge,
        signals: honest.publicSignals.map(BigInt),
      });
      const proof = await harness.updateProver({
        ...honest.input,
        kzgChallenge: chosen.x.toString(),
      });
      const opening = await kzgOpen(harness.srs, chosen.coefficients, chosen.x);
      const kzg = [
        {
          commitment: chosen.commitment,
          opening: opening.proof,
          blinding: upload.kzg[0]!.blinding,
        },
        ...upload.kzg.slice(1),
      ];
      const proofs = [...upload.header.proofs!];
      proofs[0] = {
        ...proofs[0]!,
        proofJson: JSON.stringify(proof.proof),
        publicSignals: proof.publicSignals,
      };
      return { ...upload, kzg, header: { ...upload.header, proofs, kzg: kzg.map(encodeKzgChunk) } };
    };
  }

  it("refuses a KZG commitment to other values than the uploaded bytes", async () => {
    // The device commits to q_0 + 1000 and derives x honestly from that commitment, so the
    // challenge checks out; the commitment the worker recomputes from the bytes does not.
    const outcome = await attack(
      "kzg-other-values",
      reproveChunk0(async ({ coefficients, signals }) => {
        const other = [toField(coefficients[0]! + 1000n), ...coefficients.slice(1)];
        const commitment = await kzgCommit(target.harness.srs, other);
        const x = kzgChallenge({
          context: signals[UPDATE_NORM_SIGNAL_INDEX.context]!,
          commitment: signals[UPDATE_NORM_SIGNAL_INDEX.commitment]!,
          kzgCommitment: commitment,
        });
        return { commitment, x, coefficients: other };
      }),
    );
    await expectRefused(
      outcome,
      "proof rejected (KzgMismatchError): the uploaded bytes do not match the KZG commitment of chunk 0",
    );
  }, 240_000);

  it("refuses a proof made for another challenge than the recomputed one", async () => {
    let chosenX = 0n;
    let recomputed = 0n;
    const outcome = await attack(
      "kzg-own-challenge",
      reproveChunk0(async ({ coefficients, x }) => {
        // A challenge fixed before the commitment (here x + 1): it binds the commitment to nothing.
        recomputed = x;
        chosenX = x + 1n;
        const commitment = await kzgCommit(target.harness.srs, coefficients);
        return { commitment, x: chosenX, coefficients };
      }),
    );
    await expectRefused(
      outcome,
      `proof rejected (KzgMismatchError): UpdateNorm chunk proof 0 was made for KZG challenge ${chosenX}, its KZG commitment, context and commitment give ${recomputed}`,
    );
  }, 240_000);

  it("refuses a wrong opening, naming the chunk", async () => {
    // Chunk 1 carries chunk 0's opening: a valid point, not the opening of chunk 1 at its x.
    const outcome = await attack("kzg-wrong-opening", (upload) => upload, {
      tamperKzg: (kzg) => [kzg[0]!, { ...kzg[1]!, opening: kzg[0]!.opening }],
    });
    await expectRefused(
      outcome,
      "proof rejected (KzgMismatchError): the KZG opening of chunk 1 does not show the proof's evaluation at its challenge",
    );
  }, 240_000);

  it("refuses a commitment swapped in from another chunk", async () => {
    const outcome = await attack("kzg-swapped", (upload) => upload, {
      tamperKzg: (kzg) => [{ ...kzg[0]!, commitment: kzg[1]!.commitment }, kzg[1]!],
    });
    expect(outcome.result.reason).toMatch(
      /^proof rejected \(KzgMismatchError\): UpdateNorm chunk proof 0 was made for KZG challenge \d+, its KZG commitment, context and commitment give \d+$/,
    );
    await expectRefused(outcome, outcome.result.reason);
  }, 240_000);

  it("accepts the honest upload, publishes its commitments and openings, never its blinding", async () => {
    const outcome = await attack("kzg-honest", (upload) => upload);
    expect(outcome.result).toMatchObject({ accepted: true, reason: "" });
    const { store } = target.coordinator;
    const [recorded] = await store.contributions(outcome.job.jobId, 1);
    expect(recorded!.kzgCommitments).toEqual(outcome.upload.kzg.map((k) => k.commitment));
    expect(recorded!.kzgOpenings).toEqual(outcome.upload.kzg.map((k) => k.opening));
    const blindingHex = outcome.upload.kzg.flatMap((k) =>
      k.blinding.map((b) => b.toString(16).padStart(64, "0")),
    );
    expect(recorded!.kzgBlindings!.flat()).toEqual(blindingHex);
    // The public answer carries C and π per chunk, and none of the blinding bytes.
    const clients = createFedproofClients(target.coordinator.address);
    let servedProofHash = "";
    try {
      const answer = await unary<RoundProvenance__Output>((cb) =>
        clients.provenance.getRound({ jobId: outcome.job.jobId, round: 1 }, cb),
      );
      const [contribution] = answer.contributions;
      servedProofHash = contribution!.proofHash;
      expect(contribution!.kzgCommitments.map((c) => `0x${c.toString("hex")}`)).toEqual(
        recorded!.kzgCommitments,
      );
      expect(contribution!.kzgOpenings.map((c) => `0x${c.toString("hex")}`)).toEqual(
        recorded!.kzgOpenings,
      );
      const text = JSON.stringify(answer, (_, v) =>
        v?.type === "Buffer" ? Buffer.from(v.data).toString("hex") : v,
      );
      for (const hex of blindingHex) expect(text).not.toContain(hex);
    } finally {
      clients.close();
    }
    // The bundle: the SRS in the job part (its hash the one the chain pins), C and π per
    // contribution, no blinding; it survives a JSON round trip through the parser.
    const circuits = (await target.harness.jobs.jobCircuits(outcome.job.jobId))!;
    const bundle = await exportBundle({
      store,
      jobId: outcome.job.jobId,
      chain: { chainId: 31337, registry: `0x${"11".repeat(20)}`, chainJobId: "1" },
      verificationKeys: verificationKeysOf(circuits),
    });
    expect(bundle.kzgSrs?.hash).toBe(circuits.srs.hash);
    expect(bundle.vkeyHash).toBe(circuits.vkeyHash);
    expect(bundleVerificationKeyHash(bundle)).toBe(circuits.vkeyHash);
    const round = buildBundleRound({
      round: 1,
      modelHash: outcome.job.initialModelHash,
      parentHash: outcome.job.initialModelHash,
      epsilon: 0,
      anchorTx: "",
      contributions: await storedRoundLeafInputs(store, outcome.job.jobId, 1),
    });
    expect(round.contributions[0]!.kzgCommitments).toEqual(recorded!.kzgCommitments);
    expect(round.contributions[0]!.kzgOpenings).toEqual(recorded!.kzgOpenings);
    // The served proof hash is the one the round's leaf commits to, KZG commitments included.
    expect(servedProofHash).toBe(round.contributions[0]!.proofHash);
    const json = JSON.stringify({ ...bundle, rounds: [round] });
    for (const hex of blindingHex) expect(json).not.toContain(hex);
    const parsed = parseProvenanceBundle(JSON.parse(json));
    expect(parsed.rounds[0]!.contributions[0]!.kzgCommitments).toEqual(recorded!.kzgCommitments);
    expect(bundleVerificationKeyHash(parsed)).toBe(circuits.vkeyHash);
    // A bundle from before KZG commitments still parses; one whose SRS bytes are not the
    // stated hash does not.
    const { kzgSrs, ...old } = parsed;
    expect(kzgSrs).toBeDefined();
    expect(() => parseProvenanceBundle(JSON.parse(JSON.stringify(old)))).not.toThrow();
    expect(() =>
      parseProvenanceBundle({
        ...JSON.parse(json),
        kzgSrs: { ...kzgSrs, hash: `0x${"00".repeat(32)}` },
      }),
    ).toThrow(/bundle\.kzgSrs\.hash: the SRS bytes hash to/);
  }, 240_000);
});
