import { InvalidArgumentError } from "../../common/errors.js";

export interface NumberRange {
  min?: number;
  max?: number;
  /** Whether `min` itself is excluded. */
  aboveMin?: boolean;
  /** Whether `max` itself is excluded. */
  belowMax?: boolean;
  integer?: boolean;
  /** Whether +∞ is acceptable (e.g. an RDP value, or order ∞). */
  infinite?: boolean;
}

/**
 * Throws InvalidArgumentError unless `value` is a number in `range`. The privacy maths
 * silently turns a bad input into NaN or a meaningless ε, so every entry point checks.
 */
export function assertNumber(name: string, value: number, range: NumberRange = {}): void {
  const { min, max, aboveMin = false, belowMax = false, integer = false, infinite = false } = range;
  const ok =
    !Number.isNaN(value) &&
    (Number.isFinite(value) || (infinite && value === Number.POSITIVE_INFINITY)) &&
    (min === undefined || (aboveMin ? value > min : value >= min)) &&
    (max === undefined || (belowMax ? value < max : value <= max)) &&
    (!integer || Number.isInteger(value));
  if (!ok) {
    const bounds = [
      min === undefined ? "" : `${aboveMin ? ">" : "≥"} ${min}`,
      max === undefined ? "" : `${belowMax ? "<" : "≤"} ${max}`,
    ]
      .filter(Boolean)
      .join(" and ");
    const kind = integer ? "an integer" : infinite ? "a number" : "a finite number";
    throw new InvalidArgumentError(
      `${name} must be ${kind}${bounds ? ` ${bounds}` : ""}, got ${value}`,
    );
  }
}
