/**
 * Every Redis key fedproof uses, in one place. The prefix lets several deployments (and
 * every test) share one Redis without seeing each other.
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
  session(token: string): string;
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
  /** Circuit file SHA-256 → path on disk: the only files GetArtifact may stream. */
  circuitArtifacts: string;
  /** The transaction-send lock of one signing key on one chain (chain/send-lock.ts). */
  sendLock(chainId: number, sender: string): string;
}

export function createKeys(prefix: string): Keys {
  const p = prefix.endsWith(":") ? prefix : `${prefix}:`;
  const round = (jobId: string, r: number) => `${p}job:${jobId}:round:${r}`;
  return {
    prefix: p,
    jobs: `${p}jobs`,
    models: `${p}models`,
    job: (jobId) => `${p}job:${jobId}`,
    jobEvents: (jobId) => `${p}job:${jobId}:events`,
    devices: (jobId) => `${p}job:${jobId}:devices`,
    online: (jobId) => `${p}job:${jobId}:online`,
    session: (token) => `${p}session:${token}`,
    deviceSessions: (jobId) => `${p}job:${jobId}:device-sessions`,
    joinNonce: (jobId, nonce) => `${p}job:${jobId}:join-nonce:${nonce}`,
    joinRate: (jobId, kind, second) => `${p}job:${jobId}:${kind}-rate:${second}`,
    round,
    selected: (jobId, r) => `${round(jobId, r)}:selected`,
    submitted: (jobId, r) => `${round(jobId, r)}:submitted`,
    contributions: (jobId, r) => `${round(jobId, r)}:contributions`,
    rejections: (jobId, r) => `${round(jobId, r)}:rejections`,
    deviceChannel: (jobId, deviceId) => `${p}device:${jobId}:${deviceId}`,
    circuits: (jobId) => `${p}job:${jobId}:circuits`,
    challengeSecret: (jobId) => `${p}job:${jobId}:challenge-secret`,
    excluded: (jobId) => `${p}job:${jobId}:excluded`,
    circuitArtifacts: `${p}circuit-artifacts`,
    // Addresses are case-insensitive: one key whatever the checksum casing a caller used.
    sendLock: (chainId, sender) => `${p}chain:${chainId}:sender:${sender.toLowerCase()}`,
  };
}
