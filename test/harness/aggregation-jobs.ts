/**
 * What the verifiable-aggregation tests share (test/verify-aggregation*.test.ts): a real Anvil
 * with the registry, an honest coordinator with every worker and a dishonest one without an
 * anchor worker (the test anchors what it chooses), the bundle a coordinator exports, `verify`
 * against the chain, and the small proven logreg job (8 features, 8 classes, 72 parameters = two
 * chunks of the n = 64 test circuit, two devices of 30 and 40 records).
 *
 * Imports the chain modules statically: import this file after `buildContracts()`.
 */
import pino from "pino";
import { TEST_CIRCUITS } from "../../circuits/circuit-catalog.js";
import { Device } from "../../client/node/device.js";
import { anchorRoundJob } from "../../coordinator/chain/anchor-worker.js";
import type { ChainConfig } from "../../coordinator/chain/chain-config.js";
import { exportBundle } from "../../coordinator/chain/export-bundle.js";
import { createRegistryClient } from "../../coordinator/chain/registry-client.js";
import { type JobCircuitSpecs, verificationKeysOf } from "../../coordinator/jobs/job-circuits.js";
import { JobService } from "../../coordinator/jobs/job-service.js";
import type { RoundRecord } from "../../coordinator/store/job-store.js";
import { encodeAggregate } from "../../protocol/aggregation/aggregate-codec.js";
import type { ExactAggregate } from "../../protocol/aggregation/exact-aggregate.js";
import { nextModel } from "../../protocol/aggregation/model-rule.js";
import type { Dataset } from "../../protocol/data/dataset.js";
import { strategySpecOf } from "../../protocol/job/job-spec.js";
import { strategySpecSchema } from "../../protocol/job/strategy-spec.js";
import { decodeModel, encodeModel } from "../../protocol/model/weights.js";
import { createRng } from "../../protocol/random.js";
import { type ProvenanceBundle, parseProvenanceBundle } from "../../verifier/provenance-bundle.js";
import { verifyModel } from "../../verifier/verify-model.js";
import { type StartAnvilReturnType, startAnvil } from "./anvil.js";
import { startTestCoordinator, type TestCoordinator, testLogger } from "./coordinator.js";
import { deployTestRegistry } from "./deploy-test-registry.js";
import { waitForRound } from "./wait-for-round.js";

export interface AggregationTestbed {
  anvil: StartAnvilReturnType;
  chain: ChainConfig;
  coordinator: TestCoordinator;
  /** Verify and aggregate workers only: the test anchors what it chooses. */
  dishonest: TestCoordinator;
  dispose(): Promise<void>;
}

export async function startAggregationTestbed(name: string): Promise<AggregationTestbed> {
  const anvil = await startAnvil();
  const { chain } = await deployTestRegistry(anvil);
  const coordinator = await startTestCoordinator(name, { chain });
  const dishonest = await startTestCoordinator(`${name}-dishonest`, {
    chain,
    workers: ["verify", "aggregate"],
  });
  return {
    anvil,
    chain,
    coordinator,
    dishonest,
    async dispose() {
      await coordinator.dispose();
      await dishonest.dispose();
      await anvil.stop();
    },
  };
}

/** The bundle of a job as `target`'s store (and artifact store) describe it. */
export async function bundleOf(
  testbed: AggregationTestbed,
  target: TestCoordinator,
  jobId: string,
): Promise<ProvenanceBundle> {
  const record = await target.store.getJob(jobId);
  const circuits = await target.store.loadJobCircuits(jobId);
  const { chain } = testbed;
  return exportBundle({
    store: target.store,
    artifacts: target.artifacts,
    jobId,
    chain: { chainId: chain.chainId, registry: chain.registry, chainJobId: record.chainJobId },
    ...(circuits ? { verificationKeys: verificationKeysOf(circuits) } : {}),
  });
}

/** `verifyModel` against the testbed's chain and registry. */
export function verifyOn(
  testbed: AggregationTestbed,
  modelBytes: Uint8Array,
  bundle: ProvenanceBundle,
) {
  return verifyModel({
    modelBytes,
    rpcUrl: testbed.anvil.rpcUrl,
    registry: testbed.chain.registry,
    bundle,
  });
}

/** A deep copy, as a verifier reads it from a file. */
export const copyBundle = (bundle: ProvenanceBundle): ProvenanceBundle =>
  parseProvenanceBundle(JSON.parse(JSON.stringify(bundle)));

/** Anchors rounds 1 … `rounds` of a job of the dishonest coordinator with the chain's key. */
export async function anchorAsDishonest(
  testbed: AggregationTestbed,
  jobId: string,
  rounds = 2,
): Promise<void> {
  const { chain, dishonest } = testbed;
  const registry = createRegistryClient({
    rpcUrl: chain.rpcUrl,
    chainId: chain.chainId,
    registry: chain.registry,
    account: chain.privateKey,
    pollingIntervalMs: 50,
  });
  const { chainJobId } = await dishonest.store.getJob(jobId);
  for (let round = 1; round <= rounds; round++) {
    await anchorRoundJob({ store: dishonest.store, registry }, { jobId, round, chainJobId });
  }
}

const CLASSES = 8;
/** The proven job's records: 8 features in [0, 1], eight classes. */
export const PROVEN_JOB_SCHEMA = { featureShape: [8], min: 0, max: 1, classes: CLASSES };
/** The proven job's model: logreg over PROVEN_JOB_SCHEMA. */
export const PROVEN_JOB_PARAMETERS = 72;

const testPlan = (): JobCircuitSpecs => ({
  updateNorm: TEST_CIRCUITS.updateNorm,
  dataValidity: TEST_CIRCUITS.dataValidity,
});

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
  return { schema: PROVEN_JOB_SCHEMA, x, y, size };
}

/** A JobService of `target` that registers jobs on the chain with the test circuits. */
export const provenJobsOf = (testbed: AggregationTestbed, target: TestCoordinator) =>
  new JobService({
    store: target.store,
    artifacts: target.artifacts,
    engine: target.engine,
    chain: testbed.chain,
    proofs: { plan: testPlan },
    logger: pino({ level: "silent" }),
  });

/**
 * A two-round FedAvg job with proofs and two devices (30 and 40 records), run to its end;
 * `extra` adds to (or replaces in) the spec.
 */
export async function runProvenJob(
  testbed: AggregationTestbed,
  target: TestCoordinator,
  seed: number,
  extra: Record<string, unknown> = {},
): Promise<string> {
  const job = await provenJobsOf(testbed, target).createJob({
    model: "logreg",
    schema: PROVEN_JOB_SCHEMA,
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
    ...extra,
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

/** The proven job on the honest coordinator, until both rounds are anchored, and its bundle. */
export async function anchoredProvenJob(
  testbed: AggregationTestbed,
  seed: number,
  extra: Record<string, unknown> = {},
): Promise<{ jobId: string; finalModel: Uint8Array; bundle: ProvenanceBundle }> {
  const { coordinator } = testbed;
  const jobId = await runProvenJob(testbed, coordinator, seed, extra);
  const last = await waitForRound(coordinator.store, jobId, 2, "ANCHORED", 300_000);
  await waitForRound(coordinator.store, jobId, 1, "ANCHORED", 300_000);
  return {
    jobId,
    finalModel: await coordinator.artifacts.get(last.modelHash),
    bundle: await bundleOf(testbed, coordinator, jobId),
  };
}

/**
 * What a dishonest coordinator publishes for round 2 of a two-round job it ran honestly:
 * `aggregate` (stored and named on the round), the model the job's rule makes of it from round
 * 1's model, and `fields` on the round record (the blinding R, a noise proof); then it anchors
 * both rounds with its key. Returns the forged model and the bundle it would hand out.
 */
export async function anchorForgedRound2(
  testbed: AggregationTestbed,
  jobId: string,
  aggregate: ExactAggregate,
  fields: Partial<Pick<RoundRecord, "aggregateBlinding" | "noiseProof">>,
): Promise<{ model: Uint8Array; bundle: ProvenanceBundle }> {
  const { store, artifacts } = testbed.dishonest;
  const job = await store.getJob(jobId);
  const [first, second] = [await store.getRound(jobId, 1), await store.getRound(jobId, 2)];
  const model = encodeModel(
    nextModel({
      strategy: strategySpecSchema.parse(strategySpecOf(job.spec)),
      global: decodeModel(await artifacts.get(first.modelHash)),
      aggregate,
      scale: job.spec.quantization.scale,
    }).model,
  );
  const { hash: modelHash } = await artifacts.put(model);
  if (modelHash === second.modelHash) {
    throw new Error("the forged aggregate gives the honest model: nothing would be forged");
  }
  const { hash: aggregateHash } = await artifacts.put(encodeAggregate(aggregate));
  await store.updateRound(jobId, 2, {
    modelHash,
    aggregateHash,
    aggregateWeight: aggregate.weight,
    ...fields,
  });
  await anchorAsDishonest(testbed, jobId);
  return { model, bundle: await bundleOf(testbed, testbed.dishonest, jobId) };
}
