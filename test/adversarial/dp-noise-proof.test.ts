/**
 * Verifiable aggregation with central DP, end to end: a FedAvg job with proofs and noise
 * multiplier z = 1 (logreg over 8 features and 8 classes, 72 parameters = two chunks of the n = 64
 * test circuit, two devices, two rounds) runs through the real coordinator, verify, aggregate and
 * anchor workers on a real Anvil. The aggregate worker commits to its noise N with KZG and proves
 * Σ N² ≤ c2 (the bound the spec fixes, protocol/aggregation/noise-bound.ts) with the job's noise
 * circuit; `verifyModel` checks Σ Cᵢ + C_N = commitment of (S + N, R) and the noise proofs, and
 * reports every round "verified up to noise" with X = scale·√c2, from a bundle file and from the
 * Provenance service alike, and `fedproof verify` as a process exits 0. A dishonest coordinator
 * that, for round 2, (a) adds a delta to the aggregate on top of the committed noise, (e) passes
 * a delta off as noise, proving its norm against a bound of its own, or hands out a bundle whose
 * noise proof is missing, another round's, under another circuit, or with another chunk's Groth16
 * proof or KZG commitment, fails naming round 2 and what did not match.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TEST_CIRCUITS } from "../../circuits/circuit-catalog.js";
import { releaseSnarkjsThreads } from "../../client/core/proving/release-snarkjs.js";
import { selectBackend } from "../../client/node/backend.js";
import { buildContracts } from "../../contracts/build.js";
import { aggregateBlinding } from "../../coordinator/aggregation/aggregate-blinding.js";
import { verificationKeysOf } from "../../coordinator/jobs/job-circuits.js";
import { loadJobSrs } from "../../coordinator/jobs/job-srs.js";
import { proveNoise } from "../../coordinator/privacy/prove-noise.js";
import { decodeAggregate } from "../../protocol/aggregation/aggregate-codec.js";
import { noiseProofParameters } from "../../protocol/aggregation/noise-bound.js";
import { decodeUpdate } from "../../protocol/update/quantize.js";
import type { ProvenanceBundle } from "../../verifier/provenance-bundle.js";
import type { AggregationTestbed } from "../harness/aggregation-jobs.js";
import { runCli } from "../harness/cli-process.js";
import type { TestCoordinator } from "../harness/coordinator.js";
import { waitForRound } from "../harness/wait-for-round.js";

await buildContracts();
const {
  anchoredProvenJob,
  anchorForgedRound2,
  copyBundle: copy,
  PROVEN_JOB_PARAMETERS,
  provenJobsOf,
  runProvenJob,
  startAggregationTestbed,
  verifyOn,
} = await import("../harness/aggregation-jobs.js");
const { VERIFY_MISMATCH_EXIT_CODE } = await import("../../cli/commands/verify.js");
const { fetchBundleFromCoordinator } = await import("../../verifier/fetch-bundle.js");
const { renderVerificationReport } = await import("../../verifier/report.js");

let testbed: AggregationTestbed;
let coordinator: TestCoordinator;
let dishonest: TestCoordinator;
let jobId: string;
let bundle: ProvenanceBundle;
let finalModel: Uint8Array;

/** Central DP with z = 1 on the proven two-round FedAvg job. */
const DP = { privacy: { noiseMultiplier: 1 } };
const runJob = (target: TestCoordinator, seed: number) => runProvenJob(testbed, target, seed, DP);

const verify = (modelBytes: Uint8Array, which: ProvenanceBundle) =>
  verifyOn(testbed, modelBytes, which);

/** `fedproof verify` as a user runs it, on the model and the bundle written to files. */
async function verifyCli(modelBytes: Uint8Array, which: ProvenanceBundle) {
  const dir = await mkdtemp(path.join(os.tmpdir(), "fedproof-verify-dp-"));
  try {
    const model = path.join(dir, "model.bin");
    const file = path.join(dir, "bundle.json");
    await writeFile(model, modelBytes);
    await writeFile(file, JSON.stringify(which));
    const { chain, anvil } = testbed;
    return await runCli([
      "verify",
      "--model",
      model,
      "--bundle",
      file,
      "--rpc-url",
      anvil.rpcUrl,
      "--registry",
      chain.registry,
    ]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * What a dishonest coordinator does: runs the job honestly, then for round 2 recovers its noise
 * N = S' − Σ qᵢ from the stored aggregate and updates and lets `forge` choose the aggregate it
 * publishes and the noise proof it bundles (with the noise blinding that proof used, if new).
 * It stores that aggregate, R and the model the rule makes of it on the round, and anchors both
 * rounds with its key.
 */
async function dishonestJob(
  seed: number,
  forge: (parameters: {
    noise: Float64Array;
    sum: Float64Array;
    /** The spec's bound on Σ N². */
    c2: bigint;
    proveWithBound: (noise: Float64Array, c2: bigint) => ReturnType<typeof proveNoise>;
  }) => Promise<{ sum: Float64Array; noise?: Awaited<ReturnType<typeof proveNoise>> }>,
): Promise<{ model: Uint8Array; bundle: ProvenanceBundle }> {
  const id = await runJob(dishonest, seed);
  const { store, artifacts } = dishonest;
  const job = await store.getJob(id);
  const [, second] = await Promise.all(
    [1, 2].map((round) => waitForRound(store, id, round, "COMPLETED", 300_000)),
  );
  const contributions = await store.contributions(id, 2);
  expect(contributions).toHaveLength(2);
  const published = decodeAggregate(await artifacts.get(second!.aggregateHash));
  const noise = Float64Array.from(published.sum);
  for (const contribution of contributions) {
    const q = decodeUpdate(
      await artifacts.get(contribution.updateHash),
      contribution.bits,
      job.paramCount,
    );
    for (let j = 0; j < q.length; j++) noise[j] = noise[j]! - q[j]!;
  }
  const circuits = (await store.loadJobCircuits(id))!;
  const srs = await loadJobSrs(artifacts, circuits.srs);
  const forged = await forge({
    noise,
    sum: published.sum,
    c2: noiseProofParameters(job.spec, job.paramCount).c2,
    proveWithBound: (vector, c2) =>
      proveNoise({
        noise: vector,
        circuit: circuits.noiseNorm!,
        srs,
        c2,
        context: {
          jobId: id,
          round: 2,
          globalModelHash: second!.globalModelHash,
          roundSeed: second!.challengeSeed,
        },
      }),
  });
  const aggregate = { sum: forged.sum, weight: published.weight, noised: true };
  return anchorForgedRound2(
    testbed,
    id,
    aggregate,
    forged.noise
      ? {
          noiseProof: JSON.stringify(forged.noise.proof),
          aggregateBlinding: JSON.stringify(
            aggregateBlinding([
              ...contributions.map((contribution) => ({
                id: contribution.deviceId,
                weight: 1,
                blindings: contribution.kzgBlindings ?? [],
              })),
              { id: "noise", weight: 1, blindings: forged.noise.blindings },
            ]),
          ),
        }
      : {},
  );
}

/** The spec's noise bound for this job (its clip norm, scale and parameter count). */
async function boundOf(target: TestCoordinator, id: string) {
  const job = await target.store.getJob(id);
  return noiseProofParameters(job.spec, job.paramCount);
}

beforeAll(async () => {
  await selectBackend({ preferred: "cpu" });
  testbed = await startAggregationTestbed("dp-noise-proof");
  ({ coordinator, dishonest } = testbed);
  ({ jobId, finalModel, bundle } = await anchoredProvenJob(testbed, 5, DP));
}, 900_000);

afterAll(async () => {
  await testbed?.dispose();
  await releaseSnarkjsThreads();
});

describe("an honest FedAvg job with proofs and central DP", () => {
  it("proves its noise with a wider chunk circuit of the devices' n, pinned with the job's keys", async () => {
    const circuits = (await provenJobsOf(testbed, coordinator).jobCircuits(jobId))!;
    const bound = await boundOf(coordinator, jobId);
    expect(circuits.noiseNorm?.parameters).toEqual({
      n: TEST_CIRCUITS.updateNorm.n,
      bits: bound.bits,
    });
    expect(bound.bits).toBeGreaterThan(TEST_CIRCUITS.updateNorm.bits);
    expect(Object.keys(bundle.verificationKeys)).toContain(circuits.noiseNorm!.id);
    for (const round of bundle.rounds) {
      // 72 parameters: two chunks of 64, each with a proof, a commitment and an opening.
      expect(round.noise?.circuitId).toBe(circuits.noiseNorm!.id);
      expect(round.noise?.proofs).toHaveLength(2);
      expect(round.noise?.kzgCommitments).toHaveLength(2);
      expect(round.noise?.kzgOpenings).toHaveLength(2);
      expect(round.aggregateBlinding).toHaveLength(2);
      // Against the spec's bound, chained from 0, and the noise really is below it.
      const signals = round.noise!.proofs.map((proof) => proof.publicSignals);
      expect(signals.map((s) => s[4])).toEqual([String(bound.c2), String(bound.c2)]);
      expect(signals[0]![5]).toBe("0");
      const record = await coordinator.store.getRound(jobId, round.round);
      expect(BigInt(record.noiseSquaredNorm!)).toBeLessThanOrEqual(bound.c2);
      expect(BigInt(signals[1]![5]!) + BigInt(signals[1]![1]!)).toBe(
        BigInt(record.noiseSquaredNorm!),
      );
    }
  });

  it("verifies every round up to noise of proven norm ≤ X, from a bundle file", async () => {
    const report = await verify(finalModel, copy(bundle));
    expect(report.mismatches).toEqual([]);
    expect(report.unchecked).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.rounds.map((round) => round.aggregation)).toEqual([
      "verified up to noise",
      "verified up to noise",
    ]);
    expect(report.rounds.map((round) => round.aggregateCommitments)).toEqual(["match", "match"]);
    const { norm } = await boundOf(coordinator, jobId);
    expect(report.rounds.map((round) => round.noiseNorm)).toEqual([norm, norm]);
    expect(report.notes).toContain(
      "central DP: X bounds the norm of the noise the coordinator added to each round's sum of updates, in model units (the model's mean divides it by the fixed denominator 2); the proofs bound the noise, they do not show it was random",
    );
    const text = renderVerificationReport(report);
    expect(text).toContain(`verified up to noise of proven norm ≤ ${norm.toPrecision(4)}`);
    expect(text).toMatch(/up to committed DP noise of proven norm ≤/);
    // The CLI, as a process, says the same and exits 0.
    const cli = await verifyCli(finalModel, bundle);
    expect(cli.stdout).toContain(`verified up to noise of proven norm ≤ ${norm.toPrecision(4)}`);
    expect(cli.stdout).toMatch(/^OK: /m);
    expect(cli.code).toBe(0);
  });

  it("verifies the same through the Provenance service", async () => {
    const record = await coordinator.store.getJob(jobId);
    const circuits = (await provenJobsOf(testbed, coordinator).jobCircuits(jobId))!;
    const { chain } = testbed;
    const served = await fetchBundleFromCoordinator(
      coordinator.address,
      jobId,
      { registry: chain.registry, chainId: chain.chainId, chainJobId: record.chainJobId },
      { verificationKeys: verificationKeysOf(circuits) },
    );
    expect(served.rounds.map((round) => round.noise)).toEqual(
      bundle.rounds.map((round) => round.noise),
    );
    const report = await verify(finalModel, served);
    expect(report.mismatches).toEqual([]);
    expect(report.rounds.map((round) => round.aggregation)).toEqual([
      "verified up to noise",
      "verified up to noise",
    ]);
  });

  it("reports a bundle without the noise proof as unchecked, not ok", async () => {
    const stripped = copy(bundle);
    const { noise: _, ...withoutNoise } = stripped.rounds[1]!;
    stripped.rounds[1] = withoutNoise;
    const report = await verify(finalModel, stripped);
    expect(report.ok).toBe(false);
    expect(report.mismatches).toEqual([]);
    expect(report.rounds.map((round) => round.aggregation)).toEqual([
      "verified up to noise",
      "replayed (noised aggregate)",
    ]);
    expect(report.unchecked).toEqual([
      "round 2: aggregate commitments not checked: the bundle carries no commitment to the round's central-DP noise, so S + N is no sum of commitments",
    ]);
  });

  it("fails a noise commitment swapped for another round's: its proof was made for another x", async () => {
    const swapped = copy(bundle);
    swapped.rounds[1]!.noise!.kzgCommitments[0] = bundle.rounds[0]!.noise!.kzgCommitments[0]!;
    const report = await verify(finalModel, swapped);
    expect(report.ok).toBe(false);
    const messages = report.mismatches.map((m) => `${m.kind} ${m.round}: ${m.message}`);
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatch(
      /^aggregation 2: round 2: the DP noise proofs do not prove the spec's bound .*UpdateNorm chunk proof 0 was made for KZG challenge/,
    );
  });

  /** The one mismatch verify reports for `tampered`, which must be round 2's aggregation. */
  async function onlyMismatch(tampered: ProvenanceBundle): Promise<string> {
    const report = await verify(finalModel, tampered);
    expect(report.ok).toBe(false);
    expect(report.rounds.map((round) => round.aggregation)).toEqual([
      "verified up to noise",
      "mismatch",
    ]);
    expect(report.mismatches).toHaveLength(1);
    expect(report.mismatches[0]).toMatchObject({ kind: "aggregation", round: 2 });
    return report.mismatches[0]!.message;
  }

  it("fails round 1's whole noise proof replayed in round 2: bound to another round", async () => {
    const replayed = copy(bundle);
    replayed.rounds[1]!.noise = copy(bundle).rounds[0]!.noise!;
    expect(await onlyMismatch(replayed)).toMatch(
      /^round 2: the DP noise proofs do not prove the spec's bound .*UpdateNorm chunk proof 0 is bound to another job, round, parent model, device, round challenge seed or chunk position/,
    );
  });

  it("fails noise proofs that name the devices' circuit instead of the job's noise circuit", async () => {
    const renamed = copy(bundle);
    const devices = renamed.rounds[1]!.contributions[0]!.proofs[0]!.circuitId;
    const noiseCircuit = renamed.rounds[1]!.noise!.circuitId;
    renamed.rounds[1]!.noise!.circuitId = devices;
    expect(await onlyMismatch(renamed)).toBe(
      `round 2: the DP noise proofs are for circuit ${devices}, the job's noise circuit is ${noiseCircuit}`,
    );
  });

  it("fails a noise proof whose Groth16 proof is another chunk's", async () => {
    const forged = copy(bundle);
    const proofs = forged.rounds[1]!.noise!.proofs;
    proofs[0]!.proof = proofs[1]!.proof;
    expect(await onlyMismatch(forged)).toMatch(
      /^round 2: DP noise proof 0 does not verify against the pinned key of update-norm-n64-b20-/,
    );
  });
});

describe("a dishonest coordinator, in a job with central DP", () => {
  it("(a) adds a delta to round 2's aggregate on top of the committed noise: the sums give it away", async () => {
    const forged = await dishonestJob(31, async ({ sum }) => {
      const tampered = Float64Array.from(sum);
      tampered[0] = tampered[0]! + 1000;
      return { sum: tampered };
    });
    const report = await verify(forged.model, copy(forged.bundle));
    expect(report.ok).toBe(false);
    expect(report.rounds.map((round) => round.aggregation)).toEqual([
      "verified up to noise",
      "mismatch",
    ]);
    expect(report.mismatches).toEqual([
      {
        kind: "aggregation",
        round: 2,
        message:
          "round 2: the aggregate is not the sum of the round's committed contributions and the committed DP noise (chunk 0: Σ Cᵢ + C_N ≠ commitment of S + N)",
      },
    ]);
  });

  it("(e) passes a delta off as noise, proven against a bound of its own: verify names the bound", async () => {
    let ownBound = 0n;
    const forged = await dishonestJob(32, async ({ noise, sum, c2, proveWithBound }) => {
      // v: 2√c2 spread over every coordinate, aligned with N, so ‖N + v‖ > √c2 whatever N is.
      const step = Math.ceil((2 * Math.sqrt(Number(c2))) / Math.sqrt(PROVEN_JOB_PARAMETERS));
      const bigger = noise.map((value) => value + (value < 0 ? -step : step));
      ownBound = bigger.reduce((total, value) => total + BigInt(value) * BigInt(value), 0n);
      expect(ownBound).toBeGreaterThan(c2);
      const proven = await proveWithBound(bigger, ownBound);
      return { sum: sum.map((value, j) => value - noise[j]! + bigger[j]!), noise: proven };
    });
    const report = await verify(forged.model, copy(forged.bundle));
    expect(report.ok).toBe(false);
    expect(report.rounds.map((round) => round.aggregation)).toEqual([
      "verified up to noise",
      "mismatch",
    ]);
    const aggregation = report.mismatches.filter((m) => m.kind === "aggregation");
    expect(aggregation).toHaveLength(1);
    expect(aggregation[0]!.round).toBe(2);
    expect(aggregation[0]!.message).toContain(
      `UpdateNorm chunk proof 0 proves Σq² against C2 = ${ownBound}`,
    );
    expect(report.mismatches.filter((m) => m.kind !== "aggregation")).toEqual([]);
    const cli = await verifyCli(forged.model, forged.bundle);
    expect(cli.code).toBe(VERIFY_MISMATCH_EXIT_CODE);
    expect(cli.stdout).toContain(`round 2: the DP noise proofs do not prove the spec's bound`);
  });
});
