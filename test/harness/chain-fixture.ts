/**
 * Completed rounds written straight into a real Redis job store, for the anchor, bundle and
 * verify tests and the chain benchmark: the states move through the store's own transitions and
 * contributions go through `recordContribution`, but no device trains anything. Model "files"
 * are deterministic bytes whose sha256 is the round's model hash.
 */
import { createHash } from "node:crypto";
import type { ArtifactStore } from "../../coordinator/store/artifact-store.js";
import type { ContributionRecord, JobRecord, JobStore } from "../../coordinator/store/job-store.js";
import { type JobSpec, parseJobSpec, specHash } from "../../protocol/job/job-spec.js";
import type { ProofRecord } from "../../protocol/provenance/round-leaves.js";
import {
  type ChallengeChain,
  createChallengeChain,
} from "../../protocol/proving/challenge-seed.js";

export interface SeedCompletedRoundsParameters {
  store: JobStore;
  /** When given, every model is stored there too. */
  artifacts?: ArtifactStore;
  jobId: string;
  rounds: number;
  devicesPerRound: number;
  /** Defaults to true; false leaves commitments empty, as before proofs existed. */
  withCommitments?: boolean;
  /** Proofs for a device's contribution; none by default. */
  proofs?: (round: number, deviceId: string) => ProofRecord[];
  /** A contribution's commitment (hex); a deterministic stand-in by default. */
  commitment?: (round: number, deviceId: string) => string;
  /** A contribution's claimed sample count (its weight); 100 + the device's index by default. */
  samples?: (round: number, deviceId: string) => number;
  /** A device's enrolment (hex); a stand-in key and no dataset by default. */
  enrolment?: (deviceId: string) => FixtureEnrolment;
  /** Parameters of the model (and of every update); 64 by default. */
  paramCount?: number;
  /** A device's payout address; by default every third device has none, others share a few. */
  payout?: (deviceIndex: number) => string;
  epsilon?: number;
  /** Distinguishes the model bytes of two jobs seeded with the same shape. */
  salt?: string;
  spec?: Partial<JobSpec>;
}

export interface FixtureEnrolment {
  publicKey: string;
  datasetCommitment: string;
  datasetSignature: string;
  samples: number;
}

export interface SeededJob {
  job: JobRecord;
  /** models[0] is the initial model, models[r] the model after round r. */
  models: Uint8Array[];
  modelHashes: string[];
  deviceIds: string[];
}

/** The challenge chain `seedCompletedRounds` commits the spec to: seeds[r] is round r's seed. */
export function fixtureChallengeChain(salt: string, rounds: number): ChallengeChain {
  return createChallengeChain(rounds, createHash("sha256").update(`${salt} challenge`).digest());
}

/**
 * The model bytes `seedCompletedRounds` stores for `round` (0: the initial model): float32
 * weights, `paramCount` of them, as `fedproof verify` counts them.
 */
export function fixtureModel(salt: string, round: number, paramCount = 64): Uint8Array {
  return deterministicBytes(`${salt} model ${round}`, paramCount * 4);
}

export function deterministicBytes(label: string, size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let offset = 0, counter = 0; offset < size; counter++) {
    const block = createHash("sha256").update(`${label}/${counter}`).digest();
    out.set(block.subarray(0, Math.min(block.length, size - offset)), offset);
    offset += block.length;
  }
  return out;
}

const sha256Hex = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

export function deviceIdOf(index: number): string {
  return `sim-${String(index).padStart(3, "0")}`;
}

function defaultPayout(index: number): string {
  if (index % 3 === 0) return "";
  // Several devices share each of two payout addresses: their credits merge into one leaf.
  return index % 3 === 1
    ? "0x1111111111111111111111111111111111111111"
    : "0x2222222222222222222222222222222222222222";
}

export async function seedCompletedRounds(
  parameters: SeedCompletedRoundsParameters,
): Promise<SeededJob> {
  const { store, jobId, rounds, devicesPerRound } = parameters;
  const salt = parameters.salt ?? jobId;
  const spec = parseJobSpec({
    schema: { featureShape: [4], min: 0, max: 1, classes: 2 },
    rounds,
    clientsPerRound: devicesPerRound,
    minClients: 1,
    challengeCommitment: fixtureChallengeChain(salt, rounds).commitment,
    ...parameters.spec,
  });
  const challenge = fixtureChallengeChain(salt, rounds);
  const paramCount = parameters.paramCount ?? 64;
  const models = Array.from({ length: rounds + 1 }, (_, round) =>
    fixtureModel(salt, round, paramCount),
  );
  const modelHashes = models.map(sha256Hex);
  if (parameters.artifacts) for (const model of models) await parameters.artifacts.put(model);

  const job: JobRecord = {
    jobId,
    spec,
    state: "RUNNING",
    reason: "",
    currentRound: 0,
    initialModelHash: modelHashes[0]!,
    currentModelHash: modelHashes[0]!,
    specHash: specHash(spec),
    createdAtMs: Date.now(),
    paramCount,
    manifest: "{}",
    strategyStateHash: "",
    currentClipNorm: 0,
    chainJobId: "",
    registry: "",
  };
  await store.createJob(job);

  const deviceIds = Array.from({ length: devicesPerRound }, (_, index) => deviceIdOf(index));
  for (const [index, deviceId] of deviceIds.entries()) {
    const enrolment = parameters.enrolment?.(deviceId);
    await store.registerDevice(jobId, {
      deviceId,
      publicKey:
        enrolment?.publicKey ??
        createHash("sha256").update(`${salt} key ${deviceId}`).digest("hex").repeat(2),
      datasetCommitment: enrolment?.datasetCommitment ?? "",
      datasetSignature: enrolment?.datasetSignature ?? "",
      samples: enrolment?.samples ?? 100 + index,
      platform: "test",
      backend: "none",
      payoutAddress: (parameters.payout ?? defaultPayout)(index),
      joinedAtMs: Date.now(),
    });
  }

  for (let round = 1; round <= rounds; round++) {
    const now = Date.now();
    await store.createRound(
      jobId,
      {
        round,
        state: "OPEN",
        globalModelHash: modelHashes[round - 1]!,
        modelHash: "",
        selected: devicesPerRound,
        accepted: 0,
        rejected: 0,
        late: 0,
        target: devicesPerRound,
        minClients: 1,
        startedAtMs: now,
        deadlineMs: now + 60_000,
        closedAtMs: 0,
        reason: "",
        epsilon: 0,
        anchorTx: "",
        contributionsRoot: "",
        clipNorm: spec.clipNorm,
        challengeSeed: challenge.seeds[round]!,
        aggregateHash: "",
      },
      deviceIds,
    );
    for (const [index, deviceId] of deviceIds.entries()) {
      const contribution: ContributionRecord = {
        jobId,
        round,
        deviceId,
        updateHash: sha256Hex(deterministicBytes(`${salt} update ${round} ${deviceId}`, 32)),
        samples: parameters.samples?.(round, deviceId) ?? 100 + index,
        bits: 16,
        paramCount,
        commitment:
          parameters.commitment?.(round, deviceId) ??
          (parameters.withCommitments === false
            ? ""
            : createHash("sha256")
                .update(`${salt} commitment ${round} ${deviceId}`)
                .digest("hex")
                .slice(0, 62)),
        proofs: parameters.proofs?.(round, deviceId) ?? [],
        metrics: {
          trainLoss: 0,
          trainSeconds: 0,
          holdoutAccuracy: 0,
          holdoutLoss: 0,
          holdoutSamples: 0,
          updateNorm: 0,
          proveSeconds: 0,
        },
        receivedAtMs: now,
      };
      const accepted = await store.recordContribution(contribution);
      if (accepted < 0)
        throw new Error(`fixture: contribution of ${deviceId} refused (${accepted})`);
    }
    await store.transitionRound(jobId, round, "OPEN", "AGGREGATING", { closedAtMs: Date.now() });
    await store.transitionRound(jobId, round, "AGGREGATING", "COMPLETED", {
      modelHash: modelHashes[round]!,
      epsilon: parameters.epsilon ?? 0,
    });
    await store.updateJob(jobId, { currentModelHash: modelHashes[round]! });
  }
  return { job: await store.getJob(jobId), models, modelHashes, deviceIds };
}
