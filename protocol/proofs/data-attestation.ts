/**
 * Who vouches for a contribution's data, read from its DataValidity proof: the job's attester
 * set (the proof's public attesterRoot is the root the spec pins) or the device alone
 * (attesterRoot = 0). The coordinator's verify worker, `fedproof verify` and the demo all name
 * it the same way, so a report, a log line and demo.json agree.
 */
import type { JobSpec } from "../job/job-spec.js";

/** What a verifier says about one contribution's data. */
export type DataAttestation = "attested by the job's set" | "self-attested";

export const ATTESTED_BY_JOB_SET: DataAttestation = "attested by the job's set";
export const SELF_ATTESTED: DataAttestation = "self-attested";

/** The root every DataValidity proof of the job must show: the spec's, or 0 without attesters. */
export function jobAttesterRoot(spec: Pick<JobSpec, "attesters">): bigint {
  return spec.attesters ? BigInt(spec.attesters.root) : 0n;
}

/**
 * How a proof with public attesterRoot `root` vouches for its data in this job. Only the
 * job's own root counts as attested; any other non-zero root is a proof the check refuses
 * (check-contribution.ts), so it is undefined here rather than given a label.
 */
export function dataAttestationOf(
  spec: Pick<JobSpec, "attesters">,
  root: bigint,
): DataAttestation | undefined {
  if (root === 0n) return SELF_ATTESTED;
  return spec.attesters && root === jobAttesterRoot(spec) ? ATTESTED_BY_JOB_SET : undefined;
}
