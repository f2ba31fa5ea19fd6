import type { JobInfo__Output } from "../proto/generated/fedproof/v1/JobInfo.js";

const short = (hash: string | undefined) => (hash ? `${hash.slice(0, 12)}…` : "-");
const lower = (state: string | undefined, prefix: string) =>
  String(state ?? "")
    .replace(prefix, "")
    .toLowerCase();

/** A researcher's view of a job: state, then one line per round. */
export function renderJob(job: JobInfo__Output): string {
  const lines = [
    `job ${job.jobId}  ${lower(job.state, "JOB_STATE_")}${job.reason ? ` (${job.reason})` : ""}`,
    `  model ${job.spec?.model} · ${job.paramCount} parameters · strategy ${job.spec?.strategy?.name} · round ${job.currentRound}/${job.spec?.rounds} · ${job.onlineDevices} devices online`,
    `  initial model ${short(job.initialModelHash)}  current model ${short(job.currentModelHash)}`,
  ];
  // Says what ε is accounted against, so a small ε from a declared population reads as such.
  if (job.population) {
    lines.push(
      `  central DP: noise multiplier ${job.spec?.privacy?.noiseMultiplier}, δ ${job.spec?.privacy?.delta}, population: ${job.population}`,
    );
  }
  for (const round of job.rounds ?? []) {
    lines.push(
      `  round ${round.round}: ${lower(round.state, "ROUND_STATE_")}, ${round.accepted}/${round.selected} accepted, ${round.rejected} rejected, ${round.late} late, federated accuracy ${round.federatedAccuracy.toFixed(4)}, model ${short(round.modelHash)}`,
    );
    for (const rejection of round.rejections ?? [])
      lines.push(`    ${rejection.deviceId}: ${rejection.reason}`);
    if (round.reason) lines.push(`    ${round.reason}`);
  }
  return lines.join("\n");
}
