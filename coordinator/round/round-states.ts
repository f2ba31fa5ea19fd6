import { InvalidTransitionError } from "../errors.js";

export const ROUND_STATES = [
  "OPEN",
  "AGGREGATING",
  "COMPLETED",
  "FAILED",
  "CANCELLED",
  "ANCHORED",
] as const;
export type RoundState = (typeof ROUND_STATES)[number];

/**
 * Every move a round may make. A round is created OPEN (tasks sent, updates collected),
 * closes into AGGREGATING once enough verified updates arrived or its deadline passed,
 * and ends COMPLETED when the new model is stored. ANCHORED follows COMPLETED once the
 * chain receipt arrives. Nothing leaves a terminal state: a completed round is history.
 */
export const ROUND_TRANSITIONS: Readonly<Record<RoundState, readonly RoundState[]>> = {
  OPEN: ["AGGREGATING", "FAILED", "CANCELLED"],
  AGGREGATING: ["COMPLETED", "FAILED", "CANCELLED"],
  COMPLETED: ["ANCHORED"],
  FAILED: [],
  CANCELLED: [],
  ANCHORED: [],
};

export const JOB_STATES = ["WAITING", "RUNNING", "COMPLETED", "FAILED", "CANCELLED"] as const;
export type JobState = (typeof JOB_STATES)[number];

/**
 * WAITING: created, or between rounds, waiting for enough devices. RUNNING: a round is in
 * progress. A job between rounds may also end COMPLETED, when its privacy budget allows
 * no further round.
 */
export const JOB_TRANSITIONS: Readonly<Record<JobState, readonly JobState[]>> = {
  WAITING: ["RUNNING", "COMPLETED", "FAILED", "CANCELLED"],
  RUNNING: ["WAITING", "COMPLETED", "FAILED", "CANCELLED"],
  COMPLETED: [],
  FAILED: [],
  CANCELLED: [],
};

export function isRoundState(value: string): value is RoundState {
  return (ROUND_STATES as readonly string[]).includes(value);
}

export function assertRoundTransition(from: RoundState, to: RoundState): void {
  if (!ROUND_TRANSITIONS[from].includes(to)) {
    throw new InvalidTransitionError(`round cannot move from ${from} to ${to}`, {
      details: `allowed from ${from}: ${ROUND_TRANSITIONS[from].join(", ") || "none (terminal)"}`,
    });
  }
}

export function assertJobTransition(from: JobState, to: JobState): void {
  if (!JOB_TRANSITIONS[from].includes(to)) {
    throw new InvalidTransitionError(`job cannot move from ${from} to ${to}`, {
      details: `allowed from ${from}: ${JOB_TRANSITIONS[from].join(", ") || "none (terminal)"}`,
    });
  }
}

export function isTerminalJobState(state: JobState): boolean {
  return JOB_TRANSITIONS[state].length === 0;
}
