import { randomBytes } from "node:crypto";
import { quote } from "../../common/errors.js";
import type { JobSpec } from "../../protocol/job/job-spec.js";
import type { ProofRecord } from "../../protocol/provenance/round-leaves.js";
import { challengeSeedAt } from "../../protocol/proving/challenge-seed.js";
import {
  type CreateRedisSendLockParameters,
  createRedisSendLock,
  type SendLock,
} from "../chain/send-lock.js";
import { InvalidTransitionError, NotFoundError } from "../errors.js";
import type { JobCircuits } from "../jobs/job-circuits.js";
import {
  assertJobTransition,
  assertRoundTransition,
  type JobState,
  type RoundState,
} from "../round/round-states.js";
import { createKeys, type Keys } from "./keys.js";
import type { RedisClient } from "./redis.js";

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
  /**
   * s_r of the job's challenge chain (hex), revealed with the round's tasks; every proof
   * context of the round mixes it in. "" for rounds stored before seeds existed.
   */
  challengeSeed: string;
  /**
   * sha256 (hex) of the round's exact aggregate artifact (protocol/aggregation/aggregate-codec.ts),
   * stored in the artifact store under that name; "" for robust strategies, whose aggregate is
   * not a sum, and for rounds not aggregated yet.
   */
  aggregateHash: string;
  /** W, the aggregate's divisor: Σ wᵢ, or the fixed DP denominator; 0 without an aggregate. */
  aggregateWeight?: number;
  /** Σ N_j² of the round's central-DP noise in quantisation units (decimal); "" without DP. */
  noiseSquaredNorm?: string;
  /**
   * R per chunk, JSON of [[ρ0, ρ1], ...] (0x-prefixed 32-byte hex): Σ wᵢ·ρᵢ mod r of the round's
   * KZG blindings (coordinator/aggregation/aggregate-blinding.ts), which opens Σ wᵢ·Cᵢ with S.
   * With central DP it opens Σ wᵢ·Cᵢ + C_N with S + N: the noise chunks' blinding is folded in.
   * "" without proofs and for robust strategies.
   */
  aggregateBlinding?: string;
  /**
   * With central DP in a job with proofs: JSON of the coordinator's NoiseProof
   * (coordinator/privacy/prove-noise.ts): the KZG commitments C_N of its noise, their openings
   * and the noise circuit's proofs of Σ N² ≤ c2. "" otherwise.
   */
  noiseProof?: string;
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
  /**
   * Per UpdateNorm chunk (jobs with proofs): the KZG commitment C and the opening π at the
   * proof's kzgChallenge, G1Hex ("0x" + 128 hex); public once verified (the bundle carries them).
   */
  kzgCommitments?: string[];
  kzgOpenings?: string[];
  /**
   * Per chunk, the blinding [ρ0, ρ1] as 64-hex field elements. Private like the salt: the
   * coordinator needs it to recompute C (and later the round's aggregate blinding), and no
   * answer or bundle carries it.
   */
  kzgBlindings?: [string, string][];
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
  /** How long the session lives unused; every use (findSession) restarts the clock. */
  ttlMs: number;
}

/**
 * A resumable upload (coordinator/grpc/resumable-upload.ts): the SubmitUpdate header it
 * began with and how many of its bytes are on disk. Lives until committed or expired.
 */
export interface UploadRecord {
  uploadId: string;
  sessionToken: string;
  jobId: string;
  deviceId: string;
  round: number;
  /** The header as an UpdateChunk on the wire (base64), replayed into SubmitUpdate at commit. */
  header: string;
  sizeBytes: number;
  offset: number;
  expiresAtMs: number;
}

// Moves an upload's offset only from the value the writer started at: two retried copies of
// one chunk cannot both advance it. Returns {moved, offset now}; {0, -1} when it is gone.
const ADVANCE_UPLOAD = `
local current = redis.call('HGET', KEYS[1], 'offset')
if not current then return {0, -1} end
if current ~= ARGV[1] then return {0, tonumber(current)} end
redis.call('HSET', KEYS[1], 'offset', ARGV[2])
return {1, tonumber(ARGV[2])}
`;

/** Why a device may no longer take part in a job. */
export interface DeviceExclusion {
  /** The round whose data proof failed. */
  round: number;
  /** The rejection, as the device was told it. */
  reason: string;
  excludedAtMs: number;
}

/** What an upload is checked against (JobStore.uploadContext); undefined where nothing is stored. */
export interface UploadContext {
  job?: JobRecord;
  exclusion?: DeviceExclusion;
  round?: RoundRecord;
  /** Whether the device was selected for the round. */
  selected: boolean;
  device?: DeviceRecord;
}

/** What a verify worker judges an update by (JobStore.verificationContext). */
export interface VerificationContext {
  job?: JobRecord;
  round?: RoundRecord;
  device?: DeviceRecord;
}

/** Round counters a worker bumps on its own; accepted/rejected/late move with their records. */
export type RoundCounter = "proofsVerified" | "proofsRejected";

// COMPARE_AND_SET on a job that must also still be in the round the caller saw (one key).
const COMPARE_AND_SET_IN_ROUND = `
local current = redis.call('HGET', KEYS[1], 'state')
if not current then return {0, ''} end
local round = redis.call('HGET', KEYS[1], 'currentRound') or '0'
if current ~= ARGV[1] or round ~= ARGV[3] then return {0, current .. ' in round ' .. round} end
redis.call('HSET', KEYS[1], 'state', ARGV[2])
for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
return {1, ARGV[2]}
`;

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

// A device has one session: the new token is stored and the device's previous one deleted in
// one step, so a re-Join (which proves key possession) always revokes what came before.
// KEYS[3] is the previous session, read just before: a script may touch only keys it was
// given (Redis Cluster routes it by them), so when the device's token moved since that read
// the script changes nothing and returns -1, and the caller reads again.
const OPEN_SESSION = `
local previous = redis.call('HGET', KEYS[1], ARGV[1]) or ''
if previous ~= ARGV[5] then return -1 end
if previous ~= '' and previous ~= ARGV[2] then redis.call('DEL', KEYS[3]) end
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if previous ~= '' then return 1 end
return 0
`;

// Reading a session refreshes it: a session lives as long as the device keeps using it.
const TOUCH_SESSION = `
local raw = redis.call('GET', KEYS[1])
if not raw then return false end
local ttl = tonumber(ARGV[1])
local ok, session = pcall(cjson.decode, raw)
if ok and type(session) == 'table' and tonumber(session.ttlMs) then ttl = tonumber(session.ttlMs) end
redis.call('PEXPIRE', KEYS[1], ttl)
return raw
`;

const CLOSE_SESSION = `
redis.call('DEL', KEYS[2])
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then redis.call('HDEL', KEYS[1], ARGV[1]) end
return 1
`;

// Every live stream of one device leaves the online set (Leave); other devices' stay.
const DEVICE_OFFLINE = `
local prefix = ARGV[1] .. '/'
local removed = 0
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if string.sub(member, 1, #prefix) == prefix then
    removed = removed + redis.call('ZREM', KEYS[1], member)
  end
end
return removed
`;

const CONSUME_NONCE = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
`;

// The first verified data proof binds its nullifier to its device, both ways, in one step:
// no second device may show the nullifier, and the device may show no other. Returns
// {'ok'}, {'owner', device} when another device holds the nullifier, or {'shown', nullifier}
// when this device already showed another one.
/** HDEL the claim on a dataset commitment only while the given device still holds it. */
const RELEASE_DATASET_CLAIM = `
if redis.call("HGET", KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call("HDEL", KEYS[1], ARGV[1])
end
return 0`;

const RECORD_NULLIFIER = `
local owner = redis.call('HGET', KEYS[1], ARGV[1])
if owner and owner ~= ARGV[2] then return {'owner', owner} end
local shown = redis.call('HGET', KEYS[2], ARGV[2])
if shown and shown ~= ARGV[1] then return {'shown', shown} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
return {'ok', ARGV[1]}
`;

// The distinct nullifiers of a job as round ARGV[1] starts, kept from the first call on.
const FREEZE_POPULATION = `
redis.call('HSETNX', KEYS[1], ARGV[1], redis.call('HLEN', KEYS[2]))
return tonumber(redis.call('HGET', KEYS[1], ARGV[1]))
`;

/** What `JobStore.recordNullifier` found. */
export type NullifierRecord =
  | { status: "recorded" }
  | { status: "taken"; deviceId: string }
  | { status: "changed"; nullifier: string };

/** Sessions of rows written before sessions carried their TTL live this long per use. */
const LEGACY_SESSION_TTL_MS = 3_600_000;

type StoredHash = Record<string, string>;

/** What `JobStore.persistence` found out about the Redis server. */
export interface RedisPersistence {
  /** `appendonly yes`: every write also goes to the append-only file. */
  appendOnly: boolean;
  /** `always`, `everysec` or `no`, when CONFIG could be read. */
  appendFsync?: string;
  source: "CONFIG GET" | "INFO persistence";
}

export interface JobStoreParameters {
  /** One Redis server or a Redis Cluster (redis.ts): every script and MULTI stays in one slot. */
  redis: RedisClient;
  prefix: string;
}

/**
 * All job, round, device, contribution, model-index and circuit state, in Redis. The only
 * code that talks to Redis for that state: callers name what they want, never a key.
 */
export class JobStore {
  private readonly redis: RedisClient;
  /** Key and pub/sub channel names (keys.ts), for the subscribers and tests that need them. */
  readonly keys: Keys;

  constructor(parameters: JobStoreParameters) {
    this.redis = parameters.redis;
    this.keys = createKeys(parameters.prefix);
  }

  /**
   * Writes the record, then lists it. Two steps, not one MULTI: the job list is global and the
   * record lives in the job's slot, and a cluster transaction cannot span two slots. In this
   * order a crash between them leaves at worst an unlisted record whose CreateJob never
   * answered (nobody holds its id, and the engine, which walks the list, never runs it), never
   * a listed id without a record.
   */
  async createJob(job: JobRecord): Promise<void> {
    await this.redis.hset(this.keys.job(job.jobId), encodeJob(job));
    await this.redis.zadd(this.keys.jobs, job.createdAtMs, job.jobId);
  }

  async findJob(jobId: string): Promise<JobRecord | undefined> {
    const raw = (await this.redis.hgetall(this.keys.job(jobId))) as StoredHash;
    return raw.jobId ? decodeJob(raw) : undefined;
  }

  async getJob(jobId: string): Promise<JobRecord> {
    const job = await this.findJob(jobId);
    if (!job) throw new NotFoundError(`job ${quote(jobId)} not found`);
    return job;
  }

  /** The job's model manifest (fixed when the job is created); undefined for no such job. */
  async jobManifest(jobId: string): Promise<string | undefined> {
    return (await this.redis.hget(this.keys.job(jobId), "manifest")) ?? undefined;
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

  /**
   * Like transitionJob, but only while the job is also still in round `round`: a job goes
   * WAITING → RUNNING → WAITING once per round, so its state alone cannot tell an engine that
   * read it a round ago from one that read it now.
   */
  async transitionJobInRound(
    jobId: string,
    round: number,
    from: JobState,
    to: JobState,
    fields: Partial<Omit<JobRecord, "state" | "jobId">> = {},
  ): Promise<void> {
    assertJobTransition(from, to);
    const args = Object.entries(encodeFields(fields)).flat();
    const [ok, current] = (await this.redis.eval(
      COMPARE_AND_SET_IN_ROUND,
      1,
      this.keys.job(jobId),
      from,
      to,
      String(round),
      ...args,
    )) as [number, string];
    if (ok === 1) return;
    if (!current) throw new NotFoundError(`job ${jobId} not found`);
    throw new InvalidTransitionError(
      `job ${jobId} is ${current}, not ${from} in round ${round}: cannot move it to ${to}`,
    );
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

  /**
   * The job, the device's exclusion, the round, whether the device was selected for it and its
   * enrolment, in one round trip: a pipeline, not a transaction (each is read as it is now, as
   * separate reads would), on keys of the job's one slot.
   */
  async uploadContext(jobId: string, round: number, deviceId: string): Promise<UploadContext> {
    const [job, exclusion, roundRecord, selected, device] = await execPipeline(
      this.redis
        .pipeline()
        .hgetall(this.keys.job(jobId))
        .hget(this.keys.excluded(jobId), deviceId)
        .hgetall(this.keys.round(jobId, round))
        .sismember(this.keys.selected(jobId, round), deviceId)
        .hget(this.keys.devices(jobId), deviceId),
    );
    return {
      job: decodeStoredJob(job),
      exclusion: parseStored<DeviceExclusion>(exclusion),
      round: decodeStoredRound(roundRecord),
      selected: selected === 1,
      device: parseStored<DeviceRecord>(device),
    };
  }

  /** The job, the round and the device's enrolment, in one round trip (see uploadContext). */
  async verificationContext(
    jobId: string,
    round: number,
    deviceId: string,
  ): Promise<VerificationContext> {
    const [job, roundRecord, device] = await execPipeline(
      this.redis
        .pipeline()
        .hgetall(this.keys.job(jobId))
        .hgetall(this.keys.round(jobId, round))
        .hget(this.keys.devices(jobId), deviceId),
    );
    return {
      job: decodeStoredJob(job),
      round: decodeStoredRound(roundRecord),
      device: parseStored<DeviceRecord>(device),
    };
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

  /** Atomic, so verify workers running side by side never lose a count. */
  async incrementRoundCounter(jobId: string, round: number, counter: RoundCounter): Promise<void> {
    await this.redis.hincrby(this.keys.round(jobId, round), counter, 1);
  }

  async isSelected(jobId: string, round: number, deviceId: string): Promise<boolean> {
    return (await this.redis.sismember(this.keys.selected(jobId, round), deviceId)) === 1;
  }

  async selectedDevices(jobId: string, round: number): Promise<string[]> {
    return this.redis.smembers(this.keys.selected(jobId, round));
  }

  /**
   * Those of `deviceIds` selected for the round that hold no upload slot in it, in one round
   * trip: a pipeline on keys of the job's one slot, not a transaction, like the two reads per
   * device it replaces (a device that uploads meanwhile ignores a task it no longer needs).
   */
  async awaitingUpload(jobId: string, round: number, deviceIds: string[]): Promise<string[]> {
    if (deviceIds.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const deviceId of deviceIds) {
      pipeline.sismember(this.keys.selected(jobId, round), deviceId);
      pipeline.sismember(this.keys.submitted(jobId, round), deviceId);
    }
    const replies = await execPipeline(pipeline);
    return deviceIds.filter((_, i) => replies[2 * i] === 1 && replies[2 * i + 1] === 0);
  }

  /** Devices selected for the round that hold no upload slot in it (one command, one slot). */
  async selectedWithoutSubmission(jobId: string, round: number): Promise<string[]> {
    return this.redis.sdiff(this.keys.selected(jobId, round), this.keys.submitted(jobId, round));
  }

  /** Claims the device's one upload slot for the round; false if it already uploaded. */
  async claimSubmission(jobId: string, round: number, deviceId: string): Promise<boolean> {
    return (await this.redis.sadd(this.keys.submitted(jobId, round), deviceId)) === 1;
  }

  /** Whether the device holds the round's upload slot: it uploaded (or is uploading) an update. */
  async hasSubmitted(jobId: string, round: number, deviceId: string): Promise<boolean> {
    return (await this.redis.sismember(this.keys.submitted(jobId, round), deviceId)) === 1;
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

  /** Writes a device's record as it is; Join enrols with `enrolDevice`, which never overwrites. */
  async registerDevice(jobId: string, device: DeviceRecord): Promise<void> {
    await this.redis.hset(this.keys.devices(jobId), device.deviceId, JSON.stringify(device));
  }

  /**
   * The first Join of a device id: stores the record only if the id has none yet, so of two
   * racing first Joins exactly one binds the id to its key. Returns the record the id was
   * already bound to, or undefined when this call enrolled it.
   */
  async enrolDevice(jobId: string, device: DeviceRecord): Promise<DeviceRecord | undefined> {
    const key = this.keys.devices(jobId);
    for (;;) {
      if ((await this.redis.hsetnx(key, device.deviceId, JSON.stringify(device))) === 1) {
        return undefined;
      }
      const existing = await this.findDevice(jobId, device.deviceId);
      if (existing) return existing;
    }
  }

  /** Stores a single-use Join nonce for one device id, for `ttlMs`. */
  async createJoinNonce(
    jobId: string,
    deviceId: string,
    nonce: string,
    ttlMs: number,
  ): Promise<void> {
    await this.redis.set(this.keys.joinNonce(jobId, nonce), deviceId, "PX", ttlMs, "NX");
  }

  /**
   * Takes a Join nonce issued for `deviceId` out of the store; false when it was never issued
   * (for this device), expired or was already used. One step: of two Joins carrying the same
   * nonce only one gets it, and a nonce shown under another device id stays its device's.
   */
  async consumeJoinNonce(jobId: string, nonce: string, deviceId: string): Promise<boolean> {
    const taken = await this.redis.eval(
      CONSUME_NONCE,
      1,
      this.keys.joinNonce(jobId, nonce),
      deviceId,
    );
    return Number(taken) === 1;
  }

  /** Counts one Join (or challenge) of the job in the current second; returns the count so far. */
  async countJoinAttempt(
    jobId: string,
    kind: "join" | "challenge",
    nowMs = Date.now(),
  ): Promise<number> {
    const key = this.keys.joinRate(jobId, kind, Math.floor(nowMs / 1000));
    const result = await this.redis.multi().incr(key).pexpire(key, 2_000).exec();
    return Number(result?.[0]?.[1] ?? 0);
  }

  async findDevice(jobId: string, deviceId: string): Promise<DeviceRecord | undefined> {
    const raw = await this.redis.hget(this.keys.devices(jobId), deviceId);
    return raw ? (JSON.parse(raw) as DeviceRecord) : undefined;
  }

  /** Devices ever enrolled in the job, online or not: the population rounds sample from. */
  async countDevices(jobId: string): Promise<number> {
    return this.redis.hlen(this.keys.devices(jobId));
  }

  /**
   * Registers a global model of the job. Updates share the blob store; only hashes indexed
   * here may be downloaded, so a device's update is never served to anyone.
   */
  async indexModel(modelHash: string, jobId: string): Promise<void> {
    await this.redis.hset(this.keys.models, modelHash, jobId);
  }

  /** The job a global model belongs to; undefined for any other blob. */
  async jobOfModel(modelHash: string): Promise<string | undefined> {
    return (await this.redis.hget(this.keys.models, modelHash)) ?? undefined;
  }

  /**
   * Stores the job's circuits, and registers their files by hash: only files named here can be
   * fetched with GetArtifact, so the stream cannot be used to read anything else on disk.
   */
  async saveJobCircuits(jobId: string, circuits: JobCircuits): Promise<void> {
    // The artifact index is global and the circuits live in the job's slot, so these are two
    // writes, not one cluster-refused MULTI. Index first: once a job names its circuits, their
    // files can be fetched; a crash between the two only leaves public circuit files indexed.
    await this.redis.hset(this.keys.circuitArtifacts, {
      [circuits.updateNorm.wasmSha256]: circuits.updateNorm.wasmPath,
      [circuits.updateNorm.zkeySha256]: circuits.updateNorm.zkeyPath,
      [circuits.dataValidity.wasmSha256]: circuits.dataValidity.wasmPath,
      [circuits.dataValidity.zkeySha256]: circuits.dataValidity.zkeyPath,
      ...(circuits.srs ? { [circuits.srs.sha256]: circuits.srs.path } : {}),
    });
    await this.redis.set(this.keys.circuits(jobId), JSON.stringify(circuits));
  }

  /** The circuits stored with a job with proofs; undefined for a job without. */
  async loadJobCircuits(jobId: string): Promise<JobCircuits | undefined> {
    const raw = await this.redis.get(this.keys.circuits(jobId));
    return raw ? (JSON.parse(raw) as JobCircuits) : undefined;
  }

  /**
   * Keeps the secret end s_R of the job's challenge chain (challenge-seed.ts). Only the round
   * engine reads it back, one revealed seed at a time; no handler serves it.
   */
  async saveChallengeSecret(jobId: string, secret: string): Promise<void> {
    await this.redis.set(this.keys.challengeSecret(jobId), secret);
  }

  /** s_round of the job's chain of `rounds` seeds; undefined for a job stored without one. */
  async challengeSeed(jobId: string, rounds: number, round: number): Promise<string | undefined> {
    const secret = await this.redis.get(this.keys.challengeSecret(jobId));
    return secret ? challengeSeedAt(secret, rounds, round) : undefined;
  }

  /**
   * Excludes a device from the rest of a job (its data proof failed). The first exclusion is
   * kept: a later one would only restate it with another round.
   */
  async excludeDevice(jobId: string, deviceId: string, exclusion: DeviceExclusion): Promise<void> {
    await this.redis.hsetnx(this.keys.excluded(jobId), deviceId, JSON.stringify(exclusion));
    // Commitments are public, so a squatter can enrol another device's commitment first; it
    // cannot prove it and is excluded at its first round. Releasing its claim then lets the
    // dataset's real holder enrol. Only the excluded device's own claim is released.
    const device = await this.findDevice(jobId, deviceId);
    if (device?.datasetCommitment) {
      await this.redis.eval(
        RELEASE_DATASET_CLAIM,
        1,
        this.keys.datasetOwners(jobId),
        device.datasetCommitment,
        deviceId,
      );
    }
  }

  /** Why the device is excluded from the job, or undefined when it is not. */
  async findExclusion(jobId: string, deviceId: string): Promise<DeviceExclusion | undefined> {
    const raw = await this.redis.hget(this.keys.excluded(jobId), deviceId);
    return raw ? (JSON.parse(raw) as DeviceExclusion) : undefined;
  }

  /** Every device excluded from the job. */
  async excludedDevices(jobId: string): Promise<string[]> {
    return (await this.redis.hkeys(this.keys.excluded(jobId))).sort();
  }

  /**
   * Binds a dataset commitment (hex) to the device enrolling it, unless another device holds
   * it; returns the device that holds it now. Bindings never move, so HSETNX then HGET is exact.
   */
  async claimDataset(jobId: string, datasetCommitment: string, deviceId: string): Promise<string> {
    const key = this.keys.datasetOwners(jobId);
    if ((await this.redis.hsetnx(key, datasetCommitment, deviceId)) === 1) return deviceId;
    return (await this.redis.hget(key, datasetCommitment)) ?? deviceId;
  }

  /** See RECORD_NULLIFIER: binds a verified data proof's nullifier (decimal) to its device. */
  async recordNullifier(
    jobId: string,
    deviceId: string,
    nullifier: string,
  ): Promise<NullifierRecord> {
    const [status, value] = (await this.redis.eval(
      RECORD_NULLIFIER,
      2,
      this.keys.nullifiers(jobId),
      this.keys.deviceNullifiers(jobId),
      nullifier,
      deviceId,
    )) as [string, string];
    if (status === "owner") return { status: "taken", deviceId: value };
    if (status === "shown") return { status: "changed", nullifier: value };
    return { status: "recorded" };
  }

  /** The nullifier the device's verified data proofs show, once one was recorded. */
  async deviceNullifier(jobId: string, deviceId: string): Promise<string | undefined> {
    return (await this.redis.hget(this.keys.deviceNullifiers(jobId), deviceId)) ?? undefined;
  }

  /** Distinct nullifiers recorded in the job: datasets, not devices, with a verified proof. */
  async countNullifiers(jobId: string): Promise<number> {
    return this.redis.hlen(this.keys.nullifiers(jobId));
  }

  /**
   * countNullifiers as round `round` starts, frozen by the first call for that round (later
   * enrolments do not move it); see FREEZE_POPULATION.
   */
  async freezeAttestedPopulation(jobId: string, round: number): Promise<number> {
    return Number(
      await this.redis.eval(
        FREEZE_POPULATION,
        2,
        this.keys.attestedPopulation(jobId),
        this.keys.nullifiers(jobId),
        String(round),
      ),
    );
  }

  /** The frozen populations by round (freezeAttestedPopulation). */
  async attestedPopulations(jobId: string): Promise<Map<number, number>> {
    const raw = await this.redis.hgetall(this.keys.attestedPopulation(jobId));
    return new Map(Object.entries(raw).map(([round, count]) => [Number(round), Number(count)]));
  }

  /** The circuit file registered under a SHA-256 by saveJobCircuits, if any. */
  async artifactPath(sha256: string): Promise<string | undefined> {
    return (await this.redis.hget(this.keys.circuitArtifacts, sha256)) ?? undefined;
  }

  /**
   * Opens a session for the device, expiring after `session.ttlMs` unused, and revokes the
   * device's previous session. Returns the new token and whether there was one to revoke.
   *
   * The token is `<jobId>.<24 random bytes, base64url>`: sessions live in their job's slot
   * (keys.ts), and a call after Join carries only the token, so the token says which job to
   * look in. The job id is no secret; the random part is the credential.
   */
  async openSession(session: SessionRecord): Promise<{ token: string; revoked: boolean }> {
    const token = `${session.jobId}.${randomBytes(24).toString("base64url")}`;
    const sessions = this.keys.deviceSessions(session.jobId);
    for (;;) {
      const previous = (await this.redis.hget(sessions, session.deviceId)) ?? "";
      const result = await this.redis.eval(
        OPEN_SESSION,
        3,
        sessions,
        this.keys.session(session.jobId, token),
        this.keys.session(session.jobId, previous),
        session.deviceId,
        token,
        JSON.stringify(session),
        String(session.ttlMs),
        previous,
      );
      if (Number(result) !== -1) return { token, revoked: Number(result) === 1 };
    }
  }

  /** The session a token names, its expiry restarted; undefined if revoked or expired. */
  async findSession(token: string): Promise<SessionRecord | undefined> {
    const jobId = jobOfSessionToken(token);
    if (!jobId) return undefined;
    const raw = (await this.redis.eval(
      TOUCH_SESSION,
      1,
      this.keys.session(jobId, token),
      String(LEGACY_SESSION_TTL_MS),
    )) as string | null;
    if (!raw) return undefined;
    const session = JSON.parse(raw) as Partial<SessionRecord>;
    return {
      jobId: session.jobId ?? "",
      deviceId: session.deviceId ?? "",
      ttlMs: session.ttlMs ?? LEGACY_SESSION_TTL_MS,
    };
  }

  /** Ends a session (Leave). */
  async deleteSession(token: string, session: SessionRecord): Promise<void> {
    await this.redis.eval(
      CLOSE_SESSION,
      2,
      this.keys.deviceSessions(session.jobId),
      this.keys.session(session.jobId, token),
      session.deviceId,
      token,
    );
  }

  /**
   * Marks one task stream of a device live until `ttlMs` from now; the stream renews it while
   * open. A device is online while any of its streams is, so one stream closing never takes a
   * device with another live stream offline, and a coordinator that dies leaves no device
   * online for longer than the mark's expiry.
   */
  async markStreamOnline(
    jobId: string,
    deviceId: string,
    streamId: string,
    ttlMs: number,
  ): Promise<void> {
    await this.redis.zadd(this.keys.online(jobId), Date.now() + ttlMs, `${deviceId}/${streamId}`);
  }

  async markStreamOffline(jobId: string, deviceId: string, streamId: string): Promise<void> {
    await this.redis.zrem(this.keys.online(jobId), `${deviceId}/${streamId}`);
  }

  /** Every stream of the device offline at once: the device left. */
  async markDeviceOffline(jobId: string, deviceId: string): Promise<void> {
    await this.redis.eval(DEVICE_OFFLINE, 1, this.keys.online(jobId), deviceId);
  }

  /** Live task streams of the job: at least as many as the devices online (onlineDevices). */
  async countOnlineStreams(jobId: string): Promise<number> {
    return this.redis.zcount(this.keys.online(jobId), Date.now(), "+inf");
  }

  /** Devices with at least one live task stream, sorted; expired marks are dropped. */
  async onlineDevices(jobId: string): Promise<string[]> {
    const key = this.keys.online(jobId);
    const now = Date.now();
    const result = await this.redis
      .multi()
      .zremrangebyscore(key, "-inf", now)
      .zrangebyscore(key, now, "+inf")
      .exec();
    const members = (result?.[1]?.[1] as string[] | undefined) ?? [];
    // Device ids never contain "/", so the device is everything before the last one.
    const devices = new Set(members.map((member) => member.slice(0, member.lastIndexOf("/"))));
    return [...devices].sort();
  }

  /**
   * The transaction-send lock of this deployment (chain/send-lock.ts), on this store's Redis,
   * so every worker and coordinator sharing the Redis and the signing key takes turns.
   */
  createSendLock(parameters: Omit<CreateRedisSendLockParameters, "redis" | "prefix">): SendLock {
    return createRedisSendLock({ ...parameters, redis: this.redis, prefix: this.keys.prefix });
  }

  /**
   * Whether Redis keeps what it is told across a restart: with the append-only file on, it
   * loses at most the last fsync interval; without it, everything since the last snapshot (or,
   * with snapshots off too, everything). Managed Redis often refuses CONFIG; INFO says the same.
   */
  async persistence(): Promise<RedisPersistence> {
    try {
      const [, appendOnly] = (await this.redis.config("GET", "appendonly")) as string[];
      const [, appendFsync] = (await this.redis.config("GET", "appendfsync")) as string[];
      return { appendOnly: appendOnly === "yes", appendFsync, source: "CONFIG GET" };
    } catch {
      const info = await this.redis.info("persistence");
      return { appendOnly: /^aof_enabled:1\s*$/m.test(info), source: "INFO persistence" };
    }
  }

  async createUpload(upload: UploadRecord): Promise<void> {
    const { offset, ...record } = upload;
    const key = this.uploadKey(upload.uploadId);
    await this.redis
      .multi()
      .hset(key, { record: JSON.stringify(record), offset: String(offset) })
      .pexpireat(key, upload.expiresAtMs)
      .exec();
  }

  async findUpload(uploadId: string): Promise<UploadRecord | undefined> {
    const raw = await this.redis.hgetall(this.uploadKey(uploadId));
    if (!raw.record) return undefined;
    return {
      ...(JSON.parse(raw.record) as Omit<UploadRecord, "offset">),
      offset: Number(raw.offset),
    };
  }

  /** Moves the upload's offset from `from` to `to`; returns the offset it has now (-1: gone). */
  async advanceUpload(uploadId: string, from: number, to: number): Promise<number> {
    const [, offset] = (await this.redis.eval(
      ADVANCE_UPLOAD,
      1,
      this.uploadKey(uploadId),
      String(from),
      String(to),
    )) as [number, number];
    return offset;
  }

  /** Removes the upload record; returns whether this call removed it (commits race on it). */
  async deleteUpload(uploadId: string): Promise<boolean> {
    return (await this.redis.del(this.uploadKey(uploadId))) === 1;
  }

  private uploadKey(uploadId: string): string {
    return this.keys.upload(uploadId);
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

/** A job hash as a pipeline returns it; undefined when there is none. */
function decodeStoredJob(raw: unknown): JobRecord | undefined {
  const hash = raw as StoredHash | null;
  return hash?.jobId ? decodeJob(hash) : undefined;
}

function decodeStoredRound(raw: unknown): RoundRecord | undefined {
  const hash = raw as StoredHash | null;
  return hash?.state ? decodeRound(hash) : undefined;
}

function parseStored<T>(raw: unknown): T | undefined {
  return typeof raw === "string" ? (JSON.parse(raw) as T) : undefined;
}

/** A pipeline's replies; the first command that failed throws its error. */
async function execPipeline(pipeline: ReturnType<RedisClient["pipeline"]>): Promise<unknown[]> {
  const results = (await pipeline.exec()) ?? [];
  return results.map(([error, reply]) => {
    if (error) throw error;
    return reply;
  });
}

/** The job a session token (JobStore.openSession) belongs to; undefined for a malformed one. */
function jobOfSessionToken(token: string): string | undefined {
  const jobId = token.slice(0, Math.max(0, token.lastIndexOf(".")));
  return /^[A-Za-z0-9._:-]{1,128}$/.test(jobId) ? jobId : undefined;
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
    challengeSeed: raw.challengeSeed ?? "",
    aggregateHash: raw.aggregateHash ?? "",
    aggregateWeight: num("aggregateWeight"),
    noiseSquaredNorm: raw.noiseSquaredNorm ?? "",
    aggregateBlinding: raw.aggregateBlinding ?? "",
    noiseProof: raw.noiseProof ?? "",
    proofsVerified: num("proofsVerified"),
    proofsRejected: num("proofsRejected"),
  };
}
