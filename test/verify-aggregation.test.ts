/**
 * Verifiable aggregation end to end: a FedAdam job (logreg, three devices, no proofs) runs
 * through the real coordinator, workers and anchor worker on a real Anvil; `verifyModel` replays
 * every round from the bundle's initial model and aggregates and reports each as replayed (a job
 * without proofs has no commitments to check the sums against), and
 * the bundle holds no update bytes. A dishonest coordinator anchoring, for round 2, (a) the
 * honest model plus a delta, or (d) the model another strategy (FedAvg) makes of the same
 * aggregate, fails naming round 2.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { partitionIid } from "../client/core/data/partition.js";
import { syntheticDataset } from "../client/core/data/synthetic.js";
import { selectBackend } from "../client/node/backend.js";
import { Device } from "../client/node/device.js";
import { buildContracts } from "../contracts/build.js";
import { decodeAggregate } from "../protocol/aggregation/aggregate-codec.js";
import { nextModel } from "../protocol/aggregation/model-rule.js";
import { subset } from "../protocol/data/dataset.js";
import { strategySpecSchema } from "../protocol/job/strategy-spec.js";
import { decodeModel, encodeModel } from "../protocol/model/weights.js";
import type { ProvenanceBundle } from "../verifier/provenance-bundle.js";
import type { AggregationTestbed } from "./harness/aggregation-jobs.js";
import { type TestCoordinator, testLogger } from "./harness/coordinator.js";
import { waitForRound } from "./harness/wait-for-round.js";

await buildContracts();
const {
  anchorAsDishonest,
  bundleOf: testbedBundleOf,
  copyBundle: copy,
  startAggregationTestbed,
  verifyOn,
} = await import("./harness/aggregation-jobs.js");
const { base64OfBytes, bytesOfBase64 } = await import("../verifier/provenance-bundle.js");
const { renderVerificationReport } = await import("../verifier/report.js");

const schema = { featureShape: [16], min: 0, max: 1, classes: 4 };
let testbed: AggregationTestbed;
let coordinator: TestCoordinator;
let dishonest: TestCoordinator;
let jobId: string;
let bundle: ProvenanceBundle;
/** models[r]: the model after round r (0: the initial model), as the coordinator stored them. */
const models: Uint8Array[] = [];

/** A FedAdam job of `rounds` rounds with three training devices, run to its end. */
async function runJob(
  target: TestCoordinator,
  seed: number,
  rounds: number,
  extra: Record<string, unknown> = {},
): Promise<string> {
  const job = await target.jobs.createJob({
    model: "logreg",
    schema,
    rounds,
    clientsPerRound: 3,
    minClients: 3,
    overSelection: 1,
    roundDeadlineSeconds: 60,
    clipNorm: 5,
    seed,
    training: { learningRate: 0.2, epochs: 1 },
    strategy: { name: "fedadam", params: { serverLearningRate: 0.05 } },
    ...extra,
  });
  const pool = syntheticDataset({ samples: 450, seed });
  const parts = partitionIid({ labels: pool.y, clients: 3, seed });
  const devices = parts.map(
    (indices, i) =>
      new Device({
        address: target.address,
        jobId: job.jobId,
        deviceId: `device-${i}`,
        data: subset(pool, indices),
        seed: 200 + i,
        logger: testLogger,
      }),
  );
  await Promise.all(devices.map((device) => device.run()));
  return job.jobId;
}

const bundleOf = (target: TestCoordinator, id: string) => testbedBundleOf(testbed, target, id);

beforeAll(async () => {
  await selectBackend({ preferred: "cpu" });
  testbed = await startAggregationTestbed("verify-aggregation");
  ({ coordinator, dishonest } = testbed);
  jobId = await runJob(coordinator, 3, 3);
  const record = await coordinator.store.getJob(jobId);
  models.push(await coordinator.artifacts.get(record.initialModelHash));
  for (let round = 1; round <= 3; round++) {
    const anchored = await waitForRound(coordinator.store, jobId, round, "ANCHORED", 120_000);
    expect(anchored.aggregateHash).toMatch(/^[0-9a-f]{64}$/);
    models.push(await coordinator.artifacts.get(anchored.modelHash));
  }
  bundle = await bundleOf(coordinator, jobId);
}, 300_000);

afterAll(async () => {
  await testbed?.dispose();
});

const verify = (modelBytes: Uint8Array, which: ProvenanceBundle) =>
  verifyOn(testbed, modelBytes, which);

/**
 * What a dishonest coordinator does: runs a 2-round job honestly, then, before anchoring round 2,
 * replaces the round's model by `forge(model1, model2, aggregate2)` in its own store and anchors
 * that with its key. Its bundle names the anchored models and carries the honest aggregates.
 * Returns the forged model and the bundle.
 */
async function dishonestJob(
  seed: number,
  forge: (model1: Uint8Array, model2: Uint8Array, bundle: ProvenanceBundle) => Uint8Array,
): Promise<{ model: Uint8Array; bundle: ProvenanceBundle }> {
  const id = await runJob(dishonest, seed, 2);
  const rounds = [1, 2].map((round) => waitForRound(dishonest.store, id, round, "COMPLETED"));
  const [first, second] = await Promise.all(rounds);
  const honestBundle = await bundleOf(dishonest, id);
  const model = forge(
    await dishonest.artifacts.get(first!.modelHash),
    await dishonest.artifacts.get(second!.modelHash),
    honestBundle,
  );
  const { hash } = await dishonest.artifacts.put(model);
  expect(hash).not.toBe(second!.modelHash);
  await dishonest.store.updateRound(id, 2, { modelHash: hash });
  await anchorAsDishonest(testbed, id);
  return { model, bundle: await bundleOf(dishonest, id) };
}

describe("an honest FedAdam job", () => {
  it("verifies every round's aggregation by replaying the rule from the initial model", async () => {
    const report = await verify(models[3]!, copy(bundle));
    expect(report.mismatches).toEqual([]);
    expect(report.ok).toBe(true);
    // Without proofs there are no commitments to add up: replayed, never "verified".
    expect(report.rounds.map((round) => round.aggregation)).toEqual([
      "replayed (sums unchecked)",
      "replayed (sums unchecked)",
      "replayed (sums unchecked)",
    ]);
    expect(report.rounds.map((round) => round.aggregateCommitments)).toEqual([
      "unchecked",
      "unchecked",
      "unchecked",
    ]);
    expect(report.notes.join("\n")).toMatch(
      /aggregate commitments not checked: the job runs without proofs/,
    );
    const text = renderVerificationReport(report);
    expect(text).toMatch(/aggregation/);
    expect(text).toMatch(
      /every model is its strategy's rule applied to the round's aggregate \(the aggregates are not checked against the contributions' commitments\)/,
    );
  });

  it("carries aggregates and the initial model but no update bytes", async () => {
    const json = JSON.stringify(bundle);
    expect(bytesOfBase64(bundle.initialModel!, "initial model")).toEqual(models[0]);
    let checked = 0;
    for (const round of bundle.rounds) {
      expect(round.aggregate).toBeDefined();
      expect(decodeAggregate(bytesOfBase64(round.aggregate!, "aggregate")).noised).toBe(false);
      for (const contribution of round.contributions) {
        const update = await coordinator.artifacts.get(contribution.updateHash);
        expect(update.byteLength).toBeGreaterThan(16);
        expect(json).not.toContain(base64OfBytes(update));
        expect(json).not.toContain(Buffer.from(update).toString("hex"));
        checked++;
      }
    }
    expect(checked).toBe(9);
  });
});

describe("a job with central DP", () => {
  it("replays every round as a noised aggregate, with Σ N² recorded on the round", async () => {
    const id = await runJob(coordinator, 5, 2, {
      strategy: { name: "fedavgm", params: {} },
      privacy: { noiseMultiplier: 0.5 },
    });
    const rounds = [];
    for (const round of [1, 2]) {
      rounds.push(await waitForRound(coordinator.store, id, round, "ANCHORED", 120_000));
    }
    for (const round of rounds) {
      expect(round.aggregateWeight).toBe(3);
      expect(BigInt(round.noiseSquaredNorm!)).toBeGreaterThan(0n);
    }
    const dpBundle = await bundleOf(coordinator, id);
    const final = await coordinator.artifacts.get(rounds[1]!.modelHash);
    const report = await verify(final, copy(dpBundle));
    expect(report.mismatches).toEqual([]);
    expect(report.rounds.map((round) => round.aggregation)).toEqual([
      "replayed (noised aggregate)",
      "replayed (noised aggregate)",
    ]);
    for (const round of dpBundle.rounds) {
      expect(decodeAggregate(bytesOfBase64(round.aggregate!, "aggregate")).noised).toBe(true);
    }
  });
});

describe("a dishonest coordinator", () => {
  it("(a) adds a delta to round 2's model and anchors it: verify names round 2", async () => {
    const forged = await dishonestJob(11, (_, model2) => {
      const tampered = decodeModel(model2);
      tampered[5] = tampered[5]! + 0.01;
      return encodeModel(tampered);
    });
    const report = await verify(forged.model, copy(forged.bundle));
    expect(report.ok).toBe(false);
    expect(report.rounds.map((round) => round.aggregation)).toEqual([
      "replayed (sums unchecked)",
      "mismatch",
    ]);
    const aggregation = report.mismatches.filter((m) => m.kind === "aggregation");
    expect(aggregation).toHaveLength(1);
    expect(aggregation[0]!.round).toBe(2);
    expect(aggregation[0]!.message).toMatch(
      /^round 2: the model anchored is not the strategy's rule applied to round 1's model and the round's aggregate \(the rule gives 0x[0-9a-f]{64}, the chain anchors 0x[0-9a-f]{64}\)$/,
    );
    // Every other check still matches: only the aggregation gives the forgery away.
    expect(report.mismatches.filter((m) => m.kind !== "aggregation")).toEqual([]);
    expect(report.rounds[0]!.ok).toBe(true);
    expect(report.rounds[1]!.ok).toBe(false);
  });

  it("(d) anchors the model another strategy makes of round 2's aggregate: verify names round 2", async () => {
    const forged = await dishonestJob(12, (model1, _, honestBundle) => {
      const aggregate = decodeAggregate(
        bytesOfBase64(honestBundle.rounds[1]!.aggregate!, "aggregate"),
      );
      return encodeModel(
        nextModel({
          strategy: strategySpecSchema.parse({ name: "fedavg" }),
          global: decodeModel(model1),
          aggregate,
          scale: honestBundle.spec!.quantization.scale,
        }).model,
      );
    });
    const report = await verify(forged.model, copy(forged.bundle));
    expect(report.ok).toBe(false);
    expect(report.rounds.map((round) => round.aggregation)).toEqual([
      "replayed (sums unchecked)",
      "mismatch",
    ]);
    expect(report.mismatches).toEqual([
      expect.objectContaining({
        kind: "aggregation",
        round: 2,
        message: expect.stringMatching(
          /^round 2: the model anchored is not the strategy's rule applied to round 1's model and the round's aggregate/,
        ),
      }),
    ]);
  });

  it("hands out an aggregate that is not the one recorded: verify names the round", async () => {
    const altered = copy(bundle);
    const bytes = bytesOfBase64(altered.rounds[0]!.aggregate!, "aggregate");
    // The lowest byte of the last coordinate: S_j moves by one unit.
    bytes[bytes.length - 8] = bytes[bytes.length - 8]! ^ 0x01;
    altered.rounds[0]!.aggregate = base64OfBytes(bytes);
    const report = await verify(models[3]!, altered);
    expect(report.ok).toBe(false);
    expect(report.rounds[0]!.aggregation).toBe("mismatch");
    expect(report.mismatches.map((m) => m.message)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^round 1: the bundle's aggregate hashes to/)]),
    );
  });
});
