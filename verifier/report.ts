import type { VerificationReport } from "./verify-model.js";

const short = (hash: string) =>
  hash.length > 18 ? `${hash.slice(0, 10)}…${hash.slice(-6)}` : hash;

/** "-" without disputes, else how many and how many the chain's verifier rejected. */
function disputesCell(disputes: VerificationReport["rounds"][number]["disputes"]): string {
  if (disputes.length === 0) return "-";
  const rejected = disputes.filter((item) => !item.proofValid).length;
  return rejected === 0 ? `${disputes.length} upheld` : `${rejected}/${disputes.length} REJECTED`;
}

/** The aggregation column; with central DP verified, the proven bound X on the noise's norm. */
function aggregationCell(round: VerificationReport["rounds"][number]): string {
  return round.aggregation === "verified up to noise" && round.noiseNorm !== undefined
    ? `verified up to noise of proven norm ≤ ${round.noiseNorm.toPrecision(4)}`
    : round.aggregation;
}

/** The human report: the job, one line per round, proofs, notes, then the verdict. */
export function renderVerificationReport(report: VerificationReport, modelFile = "model"): string {
  const lines: string[] = [];
  lines.push(`model     ${report.modelHash}  (${modelFile})`);
  lines.push(`registry  ${report.registry} on chain ${report.chainId}`);
  if (report.job) {
    lines.push(
      `job       ${report.job.chainJobId} on chain (coordinator job ${report.job.jobId}), coordinator key ${report.job.coordinator}`,
    );
    lines.push(`spec      ${report.job.specHash}`);
    lines.push(`initial   ${report.job.initialModelHash}`);
    if (report.job.population) lines.push(`privacy   population: ${report.job.population}`);
    const { attesters } = report.job;
    if (attesters) {
      lines.push(
        `attesters root ${short(attesters.root)} (depth ${attesters.depth}${attesters.keys > 0 ? `, ${attesters.keys} keys` : ""}), pinned by the spec hash`,
      );
    }
  }
  if (report.rounds.length > 0) {
    const header = [
      "round",
      "model",
      "contributors",
      "credits",
      "ε",
      "anchor tx (block)",
      "contributions",
      "credits root",
      "proofs",
      "aggregation",
      "disputes",
    ];
    const rows = report.rounds.map((round) => [
      String(round.round),
      short(round.modelHash),
      String(round.contributors),
      round.totalCredits,
      round.epsilon === 0 ? "-" : String(round.epsilon),
      `${short(round.anchorTx)} (#${round.anchorBlock})`,
      round.contributionsRoot,
      round.creditsRoot,
      round.proofs.status === "verified" || round.proofs.status === "failed"
        ? `${round.proofs.valid}/${round.proofs.checked} ${round.proofs.status}`
        : round.proofs.status,
      aggregationCell(round),
      disputesCell(round.disputes),
    ]);
    const widths = header.map((title, column) =>
      Math.max(title.length, ...rows.map((row) => row[column]!.length)),
    );
    const format = (row: string[]) =>
      row
        .map((cell, column) => cell.padEnd(widths[column]!))
        .join("  ")
        .trimEnd();
    lines.push("", format(header), ...rows.map(format));
  } else if (report.job) {
    lines.push("", "the model is the job's initial model: no rounds to check");
  }
  // Per contribution, who vouches for its data (its DataValidity proof's attester root).
  const attested = report.rounds.flatMap((round) =>
    round.contributions.map((c) => `round ${round.round} ${c.deviceId}: ${c.data}`),
  );
  if (attested.length > 0) lines.push("", ...attested.map((line) => `data      ${line}`));
  const contributions = report.rounds.reduce((sum, round) => sum + round.contributors, 0);
  const proofs = {
    verified: `verified (${report.proofs.valid} of ${report.proofs.checked} valid)`,
    failed: `FAILED (${report.proofs.valid} of ${report.proofs.checked} valid)`,
    none: "none: the job carries no zero-knowledge proofs",
    unchecked: "not checked",
  }[report.proofs.status];
  lines.push("", `proofs    ${proofs}`);
  for (const note of report.notes) lines.push(`note      ${note}`);
  for (const item of report.unchecked) lines.push(`UNCHECKED ${item}`);
  lines.push("");
  if (report.ok) {
    lines.push(
      `OK: model ${short(report.modelHash)} descends from initial model ${short(report.job?.initialModelHash ?? "")} through ${report.rounds.length} anchored round${report.rounds.length === 1 ? "" : "s"} (${contributions} contributions); every root matches${report.proofs.status === "verified" ? " and every proof verifies" : ""}${aggregationVerdict(report)}.`,
    );
  } else if (report.mismatches.length > 0) {
    lines.push(
      `MISMATCH: ${report.mismatches.length} problem${report.mismatches.length === 1 ? "" : "s"}`,
    );
    for (const mismatch of report.mismatches) lines.push(`  - ${mismatch.message}`);
  } else {
    lines.push(
      `NOT VERIFIED: ${report.unchecked.length || 1} thing${report.unchecked.length > 1 ? "s" : ""} could not be checked (UNCHECKED above)`,
    );
  }
  return lines.join("\n");
}

/**
 * What the OK line says about the aggregation, when every round was checked: "verified" rounds
 * are the weighted sum of their committed contributions too, replayed ones only the rule.
 */
function aggregationVerdict(report: VerificationReport): string {
  const statuses = new Set(report.rounds.map((round) => round.aggregation));
  if (report.rounds.length === 0 || statuses.has("unchecked") || statuses.has("not verifiable")) {
    return "";
  }
  if (statuses.size === 1 && statuses.has("verified")) {
    return "; every model is its strategy's rule applied to the round's aggregate, and every aggregate the weighted sum of the round's committed contributions";
  }
  if ([...statuses].every((status) => status === "verified up to noise")) {
    const largest = Math.max(...report.rounds.map((round) => round.noiseNorm ?? 0));
    return `; every model is its strategy's rule applied to the round's noised aggregate, and every aggregate the sum of the round's committed contributions up to committed DP noise of proven norm ≤ ${largest.toPrecision(4)}`;
  }
  return statuses.has("replayed (noised aggregate)")
    ? "; every model is its strategy's rule applied to the round's (noised) aggregate, whose sum of the contributions is not checked"
    : "; every model is its strategy's rule applied to the round's aggregate (the aggregates are not checked against the contributions' commitments)";
}
