import type { Redis } from "ioredis";
import type { JobSpec } from "../../protocol/job/job-spec.js";
import type { ProofRecord } from "../../protocol/provenance/round-leaves.js";
import { InvalidTransitionError, NotFoundError } from "../errors.js";
import {
  assertJobTransition,
  assertRoundTransition,
  type JobState,
  type RoundState,
} from "../round/round-states.js";
import { createKeys, type Keys } from "./keys.js";

export interface JobRecord {
  jobId: string;
  spec: JobSpec;
  state: JobState;
  reason: string;
  currentRound: number;
  initialModelHash: string;
  currentModelHash: string;
  specHash: string;
  createdAtMs: number;
  paramCount: number;
  /** JSON manifest of the model: preset, schema, weight shapes. */
  manifest: string;
  /** Opaque, JSON-encoded strategy state carried between rounds (FedAdam moments, …). */
  strategyStateHash: string;
  /** Clip bound the next round uses; moves only with adaptive clipping (0 = spec.clipNorm). */
  currentClipNorm: number;
  /** The registry's id for this job ("" when the coordinator runs without a chain). */
  chainJobId: string;
  /** Registry contract the job is anchored in ("" without a chain). */
  registry: string;
}

export interface RoundRecord {
  round: number;
  state: RoundState;
  globalModelHash: string;
  modelHash: string;
  selected: number;
  accepted: number;
  rejected: number;
  late: number;
  /** Verified updates after which the round closes early. */
  target: number;
  minClients: number;
  startedAtMs: number;
  deadlineMs: number;
  closedAtMs: number;
  reason: string;
  epsilon: number;
  anchorTx: string;
  contributionsRoot: string;
  clipNorm: number;
  /** Contributions whose proofs verified / were rejected (jobs with proofs only). */
  proofsVerified?: number;
  proofsRejected?: number;
}

export type { ProofRecord };

export interface DeviceMetricsRecord {
  trainLoss: number;
  trainSeconds: number;
  holdoutAccuracy: number;
  holdoutLoss: number;
  holdoutSamples: number;
  updateNorm: number;
  proveSeconds: number;
}

export interface ContributionRecord {
  jobId: string;
  round: number;
  deviceId: string;
  updateHash: string;
  samples: number;
  bits: number;
  paramCount: number;
  commitment: string;
  /** Hex of the commitment salt the device sent (jobs with proofs). */
  salt?: string;
  proofs: ProofRecord[];
  metrics: DeviceMetricsRecord;
  receivedAtMs: number;
}

export interface DeviceRecord {
  deviceId: string;
  publicKey: string;
  datasetCommitment: string;
  datasetSignature: string;
  samples: number;
  platform: string;
  backend: string;
  /** EVM address credited for this device's contributions ("" when none was given). */
  payoutAddress: string;
  joinedAtMs: number;
}

export interface SessionRecord {
  jobId: string;
  deviceId: string;
}

// Compare-and-set in one round trip: the state moves only if it still is what the caller
// saw, so two coordinators (or a coordinator and a late worker) cannot both move it.
const COMPARE_AND_SET = `
local current = redis.call('HGET', KEYS[1], 'state')
if not current then return {0, ''} end
if current ~= ARGV[1] then return {0, current} end
redis.call('HSET', KEYS[1], 'state', ARGV[2])
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
return {1, ARGV[2]}
`;

// Records a verified contribution only while the round is OPEN and short of its target,
// at most once per device: with over-selection, exactly the first `target` verified
// updates make the round. Returns the accepted count, -1 when the update came too late
// (round closed or already full), or -2 when this device already has a contribution.
const RECORD_CONTRIBUTION = `
if redis.call('HGET', KEYS[1], 'state') ~= 'OPEN' then return -1 end
local target = tonumber(redis.call('HGET', KEYS[1], 'target') or '0')
local accepted = tonumber(redis.call('HGET', KEYS[1], 'accepted') or '0')
if target > 0 and accepted >= target then return -1 end
if redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2]) == 0 then return -2 end
return redis.call('HINCRBY', KEYS[1], 'accepted', 1)
`;

type StoredHash = Record<string, string>;

export interface JobStoreParameters {
  redis: Redis;
  prefix: string;
}

/** All job, round, device and contribution state, in Redis. */
export class JobStore {
  readonly redis: Redis;
  readonly keys: Keys;

  constructor(parameters: JobStoreParameters) {
    this.redis = parameters.redis;
    this.keys = createKeys(parameters.prefix);
  }

  async createJob(job: JobRecord): Promise<void> {
    await this.redis
      .multi()
      .hset(this.keys.job(job.jobId), encodeJob(job))
      .zadd(this.keys.jobs, job.createdAtMs, job.jobId)
      .exec();
  }

  async findJob(jobId: string): Promise<JobRecord | undefined> {
    const raw = (await this.redis.hgetall(this.keys.job(jobId))) as StoredHash;
    return raw.jobId ? decodeJob(raw) : undefined;
  }

  async getJob(jobId: string): Promise<JobRecord> {
    const job = await this.findJob(jobId);
    if (!job) throw new NotFoundError(`job ${jobId} not found`);
    return job;
  }

  async listJobIds(limit: number): Promise<string[]> {
    return this.redis.zrevrange(this.keys.jobs, 0, Math.max(0, limit - 1));
  }

  async updateJob(
    jobId: string,
    fields: Partial<Omit<JobRecord, "state" | "jobId">>,
  ): Promise<void> {
    await this.redis.hset(this.keys.job(jobId), encodeFields(fields));
  }

  /** The only way a job's state changes: checked against the table, then compare-and-set. */
  async transitionJob(
    jobId: string,
    from: JobState,
    to: JobState,
    fields: Partial<Omit<JobRecord, "state" | "jobId">> = {},
  ): Promise<void> {
    assertJobTransition(from, to);
    await this.compareAndSet(this.keys.job(jobId), from, to, encodeFields(fields), `job ${jobId}`);
  }

  async createRound(jobId: string, round: RoundRecord, selected: string[]): Promise<void> {
    const multi = this.redis
      .multi()
      .hset(this.keys.round(jobId, round.round), encodeFields(round))
      .hset(this.keys.job(jobId), "currentRound", String(round.round));
    if (selected.length > 0) multi.sadd(this.keys.selected(jobId, round.round), ...selected);
    await multi.exec();
  }

  async findRound(jobId: string, round: number): Promise<RoundRecord | undefined> {
    const raw = (await this.redis.hgetall(this.keys.round(jobId, round))) as StoredHash;
    return raw.state ? decodeRound(raw) : undefined;
  }

  async getRound(jobId: string, round: number): Promise<RoundRecord> {
    const record = await this.findRound(jobId, round);
    if (!record) throw new NotFoundError(`round ${round} of job ${jobId} not found`);
    return record;
  }

  async listRounds(jobId: string, upTo: number): Promise<RoundRecord[]> {
    const rounds: RoundRecord[] = [];
    for (let r = 1; r <= upTo; r++) {
      const record = await this.findRound(jobId, r);
      if (record) rounds.push(record);
    }
    return rounds;
  }

  /** The only way a round's state changes: checked against the table, then compare-and-set. */
  async transitionRound(
    jobId: string,
    round: number,
    from: RoundState,
    to: RoundState,
    fields: Partial<Omit<RoundRecord, "state" | "round">> = {},
  ): Promise<void> {
    assertRoundTransition(from, to);
    await this.compareAndSet(
      this.keys.round(jobId, round),
      from,
      to,
      encodeFields(fields),
      `round ${round} of job ${jobId}`,
    );
  }

  async updateRound(
    jobId: string,
    round: number,
    fields: Partial<Omit<RoundRecord, "state" | "round">>,
  ) {
    await this.redis.hset(this.keys.round(jobId, round), encodeFields(fields));
  }

  async isSelected(jobId: string, round: number, deviceId: string): Promise<boolean> {
    return (await this.redis.sismember(this.keys.selected(jobId, round), deviceId)) === 1;
  }

  async selectedDevices(jobId: string, round: number): Promise<string[]> {
    return this.redis.smembers(this.keys.selected(jobId, round));
  }

  /** Claims the device's one upload slot for the round; false if it already uploaded. */
  async claimSubmission(jobId: string, round: number, deviceId: string): Promise<boolean> {
    return (await this.redis.sadd(this.keys.submitted(jobId, round), deviceId)) === 1;
  }

  async releaseSubmission(jobId: string, round: number, deviceId: string): Promise<void> {
    await this.redis.srem(this.keys.submitted(jobId, round), deviceId);
  }

  /** See RECORD_CONTRIBUTION: accepted count, -1 when the round closed, -2 on a duplicate. */
  async recordContribution(contribution: ContributionRecord): Promise<number> {
    const result = await this.redis.eval(
      RECORD_CONTRIBUTION,
      2,
      this.keys.round(contribution.jobId, contribution.round),
      this.keys.contributions(contribution.jobId, contribution.round),
      contribution.deviceId,
      JSON.stringify(contribution),
    );
    return Number(result);
  }

  async recordRejection(
    jobId: string,
    round: number,
    deviceId: string,
    reason: string,
    kind: "rejected" | "late",
  ): Promise<void> {
    await this.redis
      .multi()
      .hset(this.keys.rejections(jobId, round), deviceId, JSON.stringify({ reason, kind }))
      .hincrby(this.keys.round(jobId, round), kind, 1)
      .exec();
  }

  async contributions(jobId: string, round: number): Promise<ContributionRecord[]> {
    const raw = await this.redis.hgetall(this.keys.contributions(jobId, round));
    return Object.values(raw)
      .map((value) => JSON.parse(value) as ContributionRecord)
      .sort((a, b) => (a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : 0));
  }

  async rejections(
    jobId: string,
    round: number,
  ): Promise<{ deviceId: string; reason: string; kind: string }[]> {
    const raw = await this.redis.hgetall(this.keys.rejections(jobId, round));
    return Object.entries(raw).map(([deviceId, value]) => ({
      deviceId,
      ...(JSON.parse(value) as { reason: string; kind: string }),
    }));
  }

  async registerDevice(jobId: string, device: DeviceRecord): Promise<void> {
    await this.redis.hset(this.keys.devices(jobId), device.deviceId, JSON.stringify(device));
  }

  async findDevice(jobId: string, deviceId: string): Promise<DeviceRecord | undefined> {
    const raw = await this.redis.hget(this.keys.devices(jobId), deviceId);
    return raw ? (JSON.parse(raw) as DeviceRecord) : undefined;
  }

  async createSession(token: string, session: SessionRecord): Promise<void> {
    await this.redis.set(this.keys.session(token), JSON.stringify(session));
  }

  async findSession(token: string): Promise<SessionRecord | undefined> {
    const raw = await this.redis.get(this.keys.session(token));
    return raw ? (JSON.parse(raw) as SessionRecord) : undefined;
  }

  async deleteSession(token: string): Promise<void> {
    await this.redis.del(this.keys.session(token));
  }

  async setOnline(jobId: string, deviceId: string, online: boolean): Promise<void> {
    if (online) await this.redis.sadd(this.keys.online(jobId), deviceId);
    else await this.redis.srem(this.keys.online(jobId), deviceId);
  }

  async onlineDevices(jobId: string): Promise<string[]> {
    return (await this.redis.smembers(this.keys.online(jobId))).sort();
  }

  private async compareAndSet(
    key: string,
    from: string,
    to: string,
    fields: Record<string, string>,
    what: string,
  ): Promise<void> {
    const args = Object.entries(fields).flat();
    const [ok, current] = (await this.redis.eval(COMPARE_AND_SET, 1, key, from, to, ...args)) as [
      number,
      string,
    ];
    if (ok !== 1) {
      if (!current) throw new NotFoundError(`${what} not found`);
      throw new InvalidTransitionError(
        `${what} is ${current}, not ${from}: cannot move it to ${to}`,
      );
    }
  }
}

function encodeFields(fields: object): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    out[key] = typeof value === "string" ? value : JSON.stringify(value);
  }
  return out;
}

function encodeJob(job: JobRecord): Record<string, string> {
  return encodeFields(job);
}

function decodeJob(raw: StoredHash): JobRecord {
  return {
    jobId: raw.jobId!,
    spec: JSON.parse(raw.spec!) as JobSpec,
    state: raw.state as JobState,
    reason: raw.reason ?? "",
    currentRound: Number(raw.currentRound ?? 0),
    initialModelHash: raw.initialModelHash ?? "",
    currentModelHash: raw.currentModelHash ?? "",
    specHash: raw.specHash ?? "",
    createdAtMs: Number(raw.createdAtMs ?? 0),
    paramCount: Number(raw.paramCount ?? 0),
    manifest: raw.manifest ?? "{}",
    strategyStateHash: raw.strategyStateHash ?? "",
    currentClipNorm: Number(raw.currentClipNorm ?? 0),
    chainJobId: raw.chainJobId ?? "",
    registry: raw.registry ?? "",
  };
}

function decodeRound(raw: StoredHash): RoundRecord {
  const num = (key: string) => Number(raw[key] ?? 0);
  return {
    round: num("round"),
    state: raw.state as RoundState,
    globalModelHash: raw.globalModelHash ?? "",
    modelHash: raw.modelHash ?? "",
    selected: num("selected"),
    accepted: num("accepted"),
    rejected: num("rejected"),
    late: num("late"),
    target: num("target"),
    minClients: num("minClients"),
    startedAtMs: num("startedAtMs"),
    deadlineMs: num("deadlineMs"),
    closedAtMs: num("closedAtMs"),
    reason: raw.reason ?? "",
    epsilon: num("epsilon"),
    anchorTx: raw.anchorTx ?? "",
    contributionsRoot: raw.contributionsRoot ?? "",
    clipNorm: num("clipNorm"),
    proofsVerified: num("proofsVerified"),
    proofsRejected: num("proofsRejected"),
  };
}
