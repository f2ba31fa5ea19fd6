/**
 * Every Redis key fedproof uses, in one place. The prefix lets several deployments (and
 * every test) share one Redis without seeing each other.
 *
 * Redis Cluster places a key by its hash tag, the text between the first `{` and `}`, and
 * refuses a Lua script or MULTI whose keys sit in different slots. So every key of one job
 * carries the tag `{job:<id>}` (`fedproof:{job:42}:round:3`): a job's scripts and transactions
 * (round compare-and-set, recording a contribution, opening a session, …) stay in one slot,
 * and different jobs spread over the masters. Job ids are `[A-Za-z0-9._:-]`, so they never
 * close a tag early. The few keys that belong to no job (the job list, the model and circuit
 * artifact indexes, uploads, send locks) carry no tag: each is touched by single-key commands
 * only, never together with another key (job-store.ts says where that took restructuring).
 * On a single Redis a tag is just part of the name.
 */
export interface Keys {
  prefix: string;
  jobs: string;
  /** Global model hash → job id: only these blobs may be downloaded (updates stay private). */
  models: string;
  job(jobId: string): string;
  jobEvents(jobId: string): string;
  devices(jobId: string): string;
  /** Sorted set of live task streams, `deviceId/streamId` scored by when the mark expires. */
  online(jobId: string): string;
  /**
   * A device's session. In the job's slot, so opening one and revoking the device's previous
   * one is a single script; the token names its job (JobStore.openSession), so a lookup by
   * token alone still finds the slot.
   */
  session(jobId: string, token: string): string;
  /** Device id → its one current session token: a re-Join revokes the token found here. */
  deviceSessions(jobId: string): string;
  /** A GetJoinChallenge nonce, holding the device id it was issued for, until used or expired. */
  joinNonce(jobId: string, nonce: string): string;
  /** Joins (or challenges) of a job counted in one one-second window. */
  joinRate(jobId: string, kind: "join" | "challenge", second: number): string;
  round(jobId: string, round: number): string;
  selected(jobId: string, round: number): string;
  submitted(jobId: string, round: number): string;
  contributions(jobId: string, round: number): string;
  rejections(jobId: string, round: number): string;
  deviceChannel(jobId: string, deviceId: string): string;
  /** The job's circuits (JSON), stored once when the job is created. */
  circuits(jobId: string): string;
  /** The secret end s_R of the job's challenge-seed chain: never served, revealed seed by seed. */
  challengeSecret(jobId: string): string;
  /** Device id → why (JSON) it is excluded from the job: a data proof that failed. */
  excluded(jobId: string): string;
  /** Dataset commitment (hex) → the device it enrolled: one dataset, one device per job. */
  datasetOwners(jobId: string): string;
  /** DataValidity nullifier (decimal) → the device whose verified data proof first showed it. */
  nullifiers(jobId: string): string;
  /** Device id → the nullifier its data proofs show (the reverse of `nullifiers`). */
  deviceNullifiers(jobId: string): string;
  /** Round → distinct nullifiers when it started: the "attested" DP population, frozen. */
  attestedPopulation(jobId: string): string;
  /** Circuit file SHA-256 → path on disk: the only files GetArtifact may stream. */
  circuitArtifacts: string;
  /** A resumable upload's record (JobStore.createUpload), found by its id alone. */
  upload(uploadId: string): string;
  /** The transaction-send lock of one signing key on one chain (chain/send-lock.ts). */
  sendLock(chainId: number, sender: string): string;
}

export function createKeys(prefix: string): Keys {
  const p = prefix.endsWith(":") ? prefix : `${prefix}:`;
  const job = (jobId: string) => `${p}{job:${jobId}}`;
  const round = (jobId: string, r: number) => `${job(jobId)}:round:${r}`;
  return {
    prefix: p,
    jobs: `${p}jobs`,
    models: `${p}models`,
    job,
    jobEvents: (jobId) => `${job(jobId)}:events`,
    devices: (jobId) => `${job(jobId)}:devices`,
    online: (jobId) => `${job(jobId)}:online`,
    session: (jobId, token) => `${job(jobId)}:session:${token}`,
    deviceSessions: (jobId) => `${job(jobId)}:device-sessions`,
    joinNonce: (jobId, nonce) => `${job(jobId)}:join-nonce:${nonce}`,
    joinRate: (jobId, kind, second) => `${job(jobId)}:${kind}-rate:${second}`,
    round,
    selected: (jobId, r) => `${round(jobId, r)}:selected`,
    submitted: (jobId, r) => `${round(jobId, r)}:submitted`,
    contributions: (jobId, r) => `${round(jobId, r)}:contributions`,
    rejections: (jobId, r) => `${round(jobId, r)}:rejections`,
    deviceChannel: (jobId, deviceId) => `${job(jobId)}:device:${deviceId}`,
    circuits: (jobId) => `${job(jobId)}:circuits`,
    challengeSecret: (jobId) => `${job(jobId)}:challenge-secret`,
    excluded: (jobId) => `${job(jobId)}:excluded`,
    datasetOwners: (jobId) => `${job(jobId)}:dataset-owners`,
    nullifiers: (jobId) => `${job(jobId)}:nullifiers`,
    deviceNullifiers: (jobId) => `${job(jobId)}:device-nullifiers`,
    attestedPopulation: (jobId) => `${job(jobId)}:attested-population`,
    circuitArtifacts: `${p}circuit-artifacts`,
    upload: (uploadId) => `${p}upload:${uploadId}`,
    // Addresses are case-insensitive: one key whatever the checksum casing a caller used.
    sendLock: (chainId, sender) => `${p}chain:${chainId}:sender:${sender.toLowerCase()}`,
  };
}
