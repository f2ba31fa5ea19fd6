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
  online(jobId: string): string;
  session(token: string): string;
  round(jobId: string, round: number): string;
  selected(jobId: string, round: number): string;
  submitted(jobId: string, round: number): string;
  contributions(jobId: string, round: number): string;
  rejections(jobId: string, round: number): string;
  deviceChannel(jobId: string, deviceId: string): string;
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
    round,
    selected: (jobId, r) => `${round(jobId, r)}:selected`,
    submitted: (jobId, r) => `${round(jobId, r)}:submitted`,
    contributions: (jobId, r) => `${round(jobId, r)}:contributions`,
    rejections: (jobId, r) => `${round(jobId, r)}:rejections`,
    deviceChannel: (jobId, deviceId) => `${p}device:${jobId}:${deviceId}`,
  };
}
