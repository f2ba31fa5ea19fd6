/**
 * Verifiable aggregation of a job with proofs, end to end: a FedAvg job (logreg over 8 features
 * and 8 classes, 72 parameters = two chunks of the n = 64 test circuit, two devices, two rounds)
 * runs through the real coordinator, verify, aggregate and anchor workers on a real Anvil.
 * `verifyModel` checks every round's KZG openings and Σ wᵢ·Cᵢ = commitment of (S, R) and reports
 * "verified" with the commitment check "match"; the bundle carries S and R, never an update or a
 * device's blinding. A dishonest coordinator that, for round 2, (b) leaves an accepted
 * contribution out of the aggregate or (c) gives one contribution weight w + 1 inside S, and
 * anchors the model the rule makes of that aggregate (with R recomputed to match), fails naming
 * round 2 and the chunk.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { releaseSnarkjsThreads } from "../client/core/proving/release-snarkjs.js";
import { selectBackend } from "../client/node/backend.js";
import { buildContracts } from "../contracts/build.js";
import { aggregateBlinding } from "../coordinator/aggregation/aggregate-blinding.js";
import { sumWeightedUpdates } from "../protocol/aggregation/exact-aggregate.js";
import { aggregationWeight } from "../protocol/job/aggregation-weight.js";
import { decodeUpdate } from "../protocol/update/quantize.js";
import type { ProvenanceBundle } from "../verifier/provenance-bundle.js";
import type { AggregationTestbed } from "./harness/aggregation-jobs.js";
import type { TestCoordinator } from "./harness/coordinator.js";
import { waitForRound } from "./harness/wait-for-round.js";

await buildContracts();
const {
  anchoredProvenJob,
  anchorForgedRound2,
  copyBundle: copy,
  runProvenJob,
  startAggregationTestbed,
  verifyOn,
} = await import("./harness/aggregation-jobs.js");
const { base64OfBytes } = await import("../verifier/provenance-bundle.js");
const { renderVerificationReport } = await import("../verifier/report.js");

let testbed: AggregationTestbed;
let coordinator: TestCoordinator;
let dishonest: TestCoordinator;
let jobId: string;
let bundle: ProvenanceBundle;
let finalModel: Uint8Array;

const runJob = (target: TestCoordinator, seed: number) => runProvenJob(testbed, target, seed);

const verify = (modelBytes: Uint8Array, which: ProvenanceBundle) =>
  verifyOn(testbed, modelBytes, which);

/**
 * What a dishonest coordinator does: runs the job honestly, then rebuilds round 2's aggregate from
 * the stored updates with `weights` (device id → weight inside S; absent: left out), divides it by
 * `divisor(honest W, forged W)`, recomputes R the same way so that S and R are consistent, derives
 * the next model with the job's rule, stores all of it on the round and anchors both rounds with
 * its key. Returns the forged model and the bundle it would hand out.
 */
async function dishonestJob(
  seed: number,
  weights: (deviceId: string, weight: number) => number | undefined,
  divisor: (honest: number, forged: number) => number,
): Promise<{ model: Uint8Array; bundle: ProvenanceBundle }> {
  const id = await runJob(dishonest, seed);
  const { store, artifacts } = dishonest;
  const job = await store.getJob(id);
  await Promise.all([1, 2].map((round) => waitForRound(store, id, round, "COMPLETED", 300_000)));
  const contributions = await store.contributions(id, 2);
  expect(contributions).toHaveLength(2);
  const included = [];
  let honestWeight = 0;
  for (const contribution of contributions) {
    const weight = aggregationWeight(contribution.samples, job.spec);
    honestWeight += weight;
    const forged = weights(contribution.deviceId, weight);
    if (forged === undefined) continue;
    const q = decodeUpdate(
      await artifacts.get(contribution.updateHash),
      contribution.bits,
      job.paramCount,
    );
    included.push({ contribution, q, weight: forged });
  }
  const sum = sumWeightedUpdates(
    included.map(({ contribution, q, weight }) => ({ id: contribution.deviceId, q, weight })),
    job.paramCount,
  );
  const aggregate = { ...sum, weight: divisor(honestWeight, sum.weight) };
  const blinding = aggregateBlinding(
    included.map(({ contribution, weight }) => ({
      id: contribution.deviceId,
      weight,
      blindings: contribution.kzgBlindings ?? [],
    })),
  );
  return anchorForgedRound2(testbed, id, aggregate, {
    aggregateBlinding: JSON.stringify(blinding),
  });
}

const SUM_MISMATCH =
  "round 2: the aggregate is not the weighted sum of the round's committed contributions (chunk 0: Σ wᵢ·Cᵢ ≠ commitment of S)";

beforeAll(async () => {
  await selectBackend({ preferred: "cpu" });
  testbed = await startAggregationTestbed("verify-aggregation-proofs");
  ({ coordinator, dishonest } = testbed);
  ({ jobId, finalModel, bundle } = await anchoredProvenJob(testbed, 3));
}, 900_000);

afterAll(async () => {
  await testbed?.dispose();
  await releaseSnarkjsThreads();
});

describe("an honest FedAvg job with proofs", () => {
  it("verifies every round: the rule replayed and the aggregate the weighted sum of the commitments", async () => {
    const report = await verify(finalModel, copy(bundle));
    expect(report.mismatches).toEqual([]);
    expect(report.unchecked).toEqual([]);
    expect(report.ok).toBe(true);
    // Two rounds × two devices × (two chunk proofs + one data proof).
    expect(report.proofs).toEqual({ status: "verified", checked: 12, valid: 12 });
    expect(report.rounds.map((round) => round.aggregation)).toEqual(["verified", "verified"]);
    expect(report.rounds.map((round) => round.aggregateCommitments)).toEqual(["match", "match"]);
    expect(renderVerificationReport(report)).toMatch(
      /every aggregate the weighted sum of the round's committed contributions/,
    );
  });

  it("carries S and R per round but no update bytes and no device's blinding", async () => {
    const json = JSON.stringify(bundle);
    let checked = 0;
    for (const round of bundle.rounds) {
      expect(round.aggregate).toBeDefined();
      // 72 parameters: two chunks of 64.
      expect(round.aggregateBlinding).toHaveLength(2);
      for (const contribution of await coordinator.store.contributions(jobId, round.round)) {
        const update = await coordinator.artifacts.get(contribution.updateHash);
        expect(json).not.toContain(base64OfBytes(update));
        expect(json).not.toContain(Buffer.from(update).toString("hex"));
        expect(contribution.kzgBlindings).toHaveLength(2);
        for (const value of contribution.kzgBlindings!.flat()) expect(json).not.toContain(value);
        checked++;
      }
    }
    expect(checked).toBe(4);
  });

  it("reports a bundle without the aggregate blinding as unchecked, not ok", async () => {
    const stripped = copy(bundle);
    const { aggregateBlinding: _, ...withoutBlinding } = stripped.rounds[1]!;
    stripped.rounds[1] = withoutBlinding;
    const report = await verify(finalModel, stripped);
    expect(report.ok).toBe(false);
    expect(report.mismatches).toEqual([]);
    expect(report.rounds.map((round) => round.aggregation)).toEqual([
      "verified",
      "replayed (sums unchecked)",
    ]);
    expect(report.unchecked).toEqual([
      "round 2: aggregate commitments not checked: the bundle carries no aggregate blinding for the round",
    ]);
  });
});

describe("a dishonest coordinator, in a job with proofs", () => {
  it("(b) leaves an accepted contribution out of round 2's aggregate: verify names round 2", async () => {
    const forged = await dishonestJob(
      21,
      (deviceId, weight) => (deviceId === "device-0" ? undefined : weight),
      (_, forgedWeight) => forgedWeight,
    );
    const report = await verify(forged.model, copy(forged.bundle));
    expect(report.ok).toBe(false);
    expect(report.rounds.map((round) => round.aggregation)).toEqual(["verified", "mismatch"]);
    expect(report.rounds.map((round) => round.aggregateCommitments)).toEqual(["match", "mismatch"]);
    const aggregation = report.mismatches.filter((m) => m.kind === "aggregation");
    expect(aggregation.every((m) => m.round === 2)).toBe(true);
    expect(aggregation.map((m) => m.message)).toContain(SUM_MISMATCH);
    expect(report.mismatches.filter((m) => m.kind !== "aggregation")).toEqual([]);
  });

  it("(c) gives one contribution weight w + 1 inside S, W as anchored: only the sums give it away", async () => {
    const forged = await dishonestJob(
      22,
      (deviceId, weight) => (deviceId === "device-1" ? weight + 1 : weight),
      (honestWeight) => honestWeight,
    );
    const report = await verify(forged.model, copy(forged.bundle));
    expect(report.ok).toBe(false);
    expect(report.rounds.map((round) => round.aggregation)).toEqual(["verified", "mismatch"]);
    // The replay alone passes: the model is the rule applied to the forged S with the right W.
    expect(report.mismatches).toEqual([{ kind: "aggregation", round: 2, message: SUM_MISMATCH }]);
  });
});
