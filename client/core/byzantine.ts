import { InvalidArgumentError } from "../../common/errors.js";
import type { Rng } from "../../protocol/random.js";
import { clipL2 } from "./update/clip.js";

/**
 * Model-poisoning attacks for simulated malicious devices. Every attack returns an update
 * that still satisfies ‖Δ‖ ≤ C for the float32 values actually sent, so the device can
 * produce a valid proof: the zero-knowledge check bounds how far one update can push the
 * model, and these attacks probe what an adversary can still do inside that bound, which is
 * what the robust strategies (median, trimmed mean, Krum) must withstand.
 *
 *   scale     k·Δ, re-clipped: a long update in the honest direction, saturating the bound.
 *   signflip  −k·Δ, re-clipped: as long as allowed, pointing against the honest direction.
 *   noise     a random direction with norm exactly C: uninformative, as large as allowed.
 */
export const BYZANTINE_ATTACKS = ["scale", "signflip", "noise"] as const;
export type ByzantineAttack = (typeof BYZANTINE_ATTACKS)[number];

/** k: large enough that any update longer than C/10 ends up at the bound. */
export const DEFAULT_ATTACK_FACTOR = 10;

export interface ApplyAttackParameters {
  clipNorm: number;
  rng: Pick<Rng, "next" | "normal">;
  /** k for "scale" and "signflip"; defaults to DEFAULT_ATTACK_FACTOR. */
  factor?: number;
}

/** The update a malicious device sends instead of its honest `delta` (left untouched). */
export function applyAttack(
  delta: Float32Array,
  attack: ByzantineAttack,
  { clipNorm, rng, factor = DEFAULT_ATTACK_FACTOR }: ApplyAttackParameters,
): Float32Array {
  if (!(factor > 0) || !Number.isFinite(factor)) {
    throw new InvalidArgumentError(`attack factor must be a positive finite number, got ${factor}`);
  }
  switch (attack) {
    case "scale":
      return clipL2(scaled(delta, factor), clipNorm).clipped;
    case "signflip":
      return clipL2(scaled(delta, -factor), clipNorm).clipped;
    case "noise":
      return randomDirection(delta.length, clipNorm, rng);
  }
}

function scaled(delta: Float32Array, by: number): Float32Array {
  const out = new Float32Array(delta.length);
  for (let i = 0; i < delta.length; i++) out[i] = delta[i] * by;
  return out;
}

/** A standard-normal vector points in a uniformly random direction; rescale it to norm C. */
function randomDirection(length: number, clipNorm: number, rng: Pick<Rng, "normal">): Float32Array {
  const gaussian = new Float32Array(length);
  let squared = 0;
  for (let i = 0; i < length; i++) {
    gaussian[i] = rng.normal();
    squared += gaussian[i] * gaussian[i];
  }
  if (squared === 0) return gaussian;
  // Scaling up to C exactly, then letting clipL2 shave the float32 rounding back under it.
  return clipL2(scaled(gaussian, clipNorm / Math.sqrt(squared)), clipNorm).clipped;
}

export interface ParseByzantineReturnType {
  /** How many of the simulated devices are malicious. */
  count: number;
  attack: ByzantineAttack;
}

/** Parses the command line's `--byzantine COUNT:ATTACK`, e.g. "2:signflip". */
export function parseByzantine(text: string): ParseByzantineReturnType {
  const usage = `expected COUNT:ATTACK with ATTACK one of ${BYZANTINE_ATTACKS.join(", ")}, e.g. "2:signflip"`;
  const match = /^\s*(\d+)\s*:\s*([a-z]+)\s*$/.exec(text);
  if (match === null) {
    throw new InvalidArgumentError(`invalid byzantine spec "${text}"`, { details: usage });
  }
  const count = Number(match[1]);
  if (!Number.isSafeInteger(count)) {
    throw new InvalidArgumentError(`byzantine device count ${match[1]} is too large`);
  }
  const attack = BYZANTINE_ATTACKS.find((name) => name === match[2]);
  if (attack === undefined) {
    throw new InvalidArgumentError(`unknown byzantine attack "${match[2]}"`, { details: usage });
  }
  return { count, attack };
}
