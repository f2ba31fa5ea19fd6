/**
 * Verifiable aggregation with central DP, end to end: a FedAvg job with proofs and noise
 * multiplier z = 1 (logreg over 8 features and 8 classes, 72 parameters = two chunks of the n = 64
 * test circuit, two devices, two rounds) runs through the real coordinator, verify, aggregate and
 * anchor workers on a real Anvil. The aggregate worker commits to its noise N with KZG and proves
 * Σ N² ≤ c2 (the bound the spec fixes, protocol/aggregation/noise-bound.ts) with the job's noise
 * circuit; `verifyModel` checks Σ Cᵢ + C_N = commitment of (S + N, R) and the noise proofs, and
 * reports every round "verified up to noise" with X = scale·√c2, from a bundle file and from the
 * Provenance service alike. A dishonest coordinator that, for round 2, (a) adds a delta to the
 * aggregate on top of the committed noise, or (e) passes a delta off as noise, proving its norm
 * against a bound of its own, fails naming round 2 and what did not match.
 */
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TEST_CIRCUITS } from "../circuits/circuit-catalog.js";
import { releaseSnarkjsThreads } from "../client/core/proving/release-snarkjs.js";
import { selectBackend } from "../client/node/backend.js";
import { Device } from "../client/node/device.js";
import { buildContracts } from "../contracts/build.js";
import { aggregateBlinding } from "../coordinator/aggregation/aggregate-blinding.js";
import type { ChainConfig } from "../coordinator/chain/chain-config.js";
import { type JobCircuitSpecs, verificationKeysOf } from "../coordinator/jobs/job-circuits.js";
import { JobService } from "../coordinator/jobs/job-service.js";
import { loadJobSrs } from "../coordinator/jobs/job-srs.js";
import { proveNoise } from "../coordinator/privacy/prove-noise.js";
import { decodeAggregate, encodeAggregate } from "../protocol/aggregation/aggregate-codec.js";
import { nextModel } from "../protocol/aggregation/model-rule.js";
import { noiseProofParameters } from "../protocol/aggregation/noise-bound.js";
import type { Dataset } from "../protocol/data/dataset.js";
import { strategySpecOf } from "../protocol/job/job-spec.js";
import { strategySpecSchema } from "../protocol/job/strategy-spec.js";
import { decodeModel, encodeModel } from "../protocol/model/weights.js";
import { createRng } from "../protocol/random.js";
import { decodeUpdate } from "../protocol/update/quantize.js";
import { type StartAnvilReturnType, startAnvil } from "./harness/anvil.js";
import { startTestCoordinator, type TestCoordinator, testLogger } from "./harness/coordinator.js";
import { deployTestRegistry } from "./harness/deploy-test-registry.js";
import { waitForRound } from "./harness/wait-for-round.js";

await buildContracts();
const { createRegistryClient } = await import("../coordinator/chain/registry-client.js");
const { anchorRoundJob } = await import("../coordinator/chain/anchor-worker.js");
const { exportBundle } = await import("../coordinator/chain/export-bundle.js");
const { fetchBundleFromCoordinator } = await import("../verifier/fetch-bundle.js");
const { verifyModel } = await import("../verifier/verify-model.js");
const { parseProvenanceBundle } = await import("../verifier/provenance-bundle.js");
const { renderVerificationReport } = await import("../verifier/report.js");

type ProvenanceBundle = Awaited<ReturnType<typeof exportBundle>>;

const CLASSES = 8;
const PARAMETERS = 72;
const schema = { featureShape: [8], min: 0, max: 1, classes: CLASSES };
const testPlan = (): JobCircuitSpecs => ({
  updateNorm: TEST_CIRCUITS.updateNorm,
  dataValidity: TEST_CIRCUITS.dataValidity,
});

let anvil: StartAnvilReturnType;
let chain: ChainConfig;
let coordinator: TestCoordinator;
let dishonest: TestCoordinator;
let jobId: string;
let bundle: ProvenanceBundle;
let finalModel: Uint8Array;

/** 40 records of 8 features in [0, 1], eight classes: fits the depth-6 test tree. */
function localData(seed: number, size = 40): Dataset {
  const rng = createRng(seed);
  const x = new Float32Array(size * 8);
  const y = new Int32Array(size);
  for (let i = 0; i < size; i++) {
    y[i] = i % CLASSES;
    for (let f = 0; f < 8; f++) {
      x[i * 8 + f] = Math.min(1, Math.max(0, 0.1 * (y[i]! % 4) + rng.next() * 0.6));
    }
  }
  return { schema, x, y, size };
}

const jobsOf = (target: TestCoordinator) =>
  new JobService({
    store: target.store,
    artifacts: target.artifacts,
    engine: target.engine,
    chain,
    proofs: { plan: testPlan },
    logger: pino({ level: "silent" }),
  });

/** A two-round FedAvg job with proofs and central DP (z = 1), two devices, run to its end. */
async function runJob(target: TestCoordinator, seed: number): Promise<string> {
  const job = await jobsOf(target).createJob({
    model: "logreg",
    schema,
    proofs: true,
    rounds: 2,
    clientsPerRound: 2,
    minClients: 2,
    overSelection: 1,
    roundDeadlineSeconds: 300,
    clipNorm: 1,
    seed,
    dataSpotChecks: TEST_CIRCUITS.dataValidity.samples,
    training: { learningRate: 0.2, epochs: 1 },
    strategy: { name: "fedavg", params: {} },
    privacy: { noiseMultiplier: 1 },
  });
  const devices = [30, 40].map(
    (size, i) =>
      new Device({
        address: target.address,
        jobId: job.jobId,
        deviceId: `device-${i}`,
        data: localData(seed * 10 + i, size),
        seed: 300 + i,
        logger: testLogger,
      }),
  );
  await Promise.all(devices.map((device) => device.run()));
  return job.jobId;
}

async function bundleOf(target: TestCoordinator, id: string): Promise<ProvenanceBundle> {
  const record = await target.store.getJob(id);
  const circuits = await jobsOf(target).jobCircuits(id);
  return exportBundle({
    store: target.store,
    artifacts: target.artifacts,
    jobId: id,
    chain: { chainId: chain.chainId, registry: chain.registry, chainJobId: record.chainJobId },
    verificationKeys: verificationKeysOf(circuits!),
  });
}

const verify = (modelBytes: Uint8Array, which: ProvenanceBundle) =>
  verifyModel({ modelBytes, rpcUrl: anvil.rpcUrl, registry: chain.registry, bundle: which });

/** A deep copy, as a verifier reads it from a file. */
const copy = (which: ProvenanceBundle): ProvenanceBundle =>
  parseProvenanceBundle(JSON.parse(JSON.stringify(which)));

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
  const [first, second] = await Promise.all(
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
  const model = encodeModel(
    nextModel({
      strategy: strategySpecSchema.parse(strategySpecOf(job.spec)),
      global: decodeModel(await artifacts.get(first!.modelHash)),
      aggregate,
      scale: job.spec.quantization.scale,
    }).model,
  );
  const { hash: modelHash } = await artifacts.put(model);
  expect(modelHash).not.toBe(second!.modelHash);
  const { hash: aggregateHash } = await artifacts.put(encodeAggregate(aggregate));
  await store.updateRound(id, 2, {
    modelHash,
    aggregateHash,
    ...(forged.noise
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
      : {}),
  });
  const registry = createRegistryClient({
    rpcUrl: chain.rpcUrl,
    chainId: chain.chainId,
    registry: chain.registry,
    account: chain.privateKey,
    pollingIntervalMs: 50,
  });
  for (const round of [1, 2]) {
    await anchorRoundJob({ store, registry }, { jobId: id, round, chainJobId: job.chainJobId });
  }
  return { model, bundle: await bundleOf(dishonest, id) };
}

/** The spec's noise bound for this job (its clip norm, scale and parameter count). */
async function boundOf(target: TestCoordinator, id: string) {
  const job = await target.store.getJob(id);
  return noiseProofParameters(job.spec, job.paramCount);
}

beforeAll(async () => {
  await selectBackend({ preferred: "cpu" });
  anvil = await startAnvil();
  ({ chain } = await deployTestRegistry(anvil));
  coordinator = await startTestCoordinator("verify-aggregation-dp", { chain });
  // The dishonest coordinator: no anchor worker, the test anchors what it chooses.
  dishonest = await startTestCoordinator("verify-aggregation-dp-dishonest", {
    chain,
    workers: ["verify", "aggregate"],
  });
  jobId = await runJob(coordinator, 5);
  const last = await waitForRound(coordinator.store, jobId, 2, "ANCHORED", 300_000);
  await waitForRound(coordinator.store, jobId, 1, "ANCHORED", 300_000);
  finalModel = await coordinator.artifacts.get(last.modelHash);
  bundle = await bundleOf(coordinator, jobId);
}, 900_000);

afterAll(async () => {
  await coordinator?.dispose();
  await dishonest?.dispose();
  await anvil?.stop();
  await releaseSnarkjsThreads();
});

describe("an honest FedAvg job with proofs and central DP", () => {
  it("proves its noise with a wider chunk circuit of the devices' n, pinned with the job's keys", async () => {
    const circuits = (await jobsOf(coordinator).jobCircuits(jobId))!;
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
    const text = renderVerificationReport(report);
    expect(text).toContain(`verified up to noise of proven norm ≤ ${norm.toPrecision(4)}`);
    expect(text).toMatch(/up to committed DP noise of proven norm ≤/);
  });

  it("verifies the same through the Provenance service", async () => {
    const record = await coordinator.store.getJob(jobId);
    const circuits = (await jobsOf(coordinator).jobCircuits(jobId))!;
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
      const step = Math.ceil((2 * Math.sqrt(Number(c2))) / Math.sqrt(PARAMETERS));
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
  });
});
