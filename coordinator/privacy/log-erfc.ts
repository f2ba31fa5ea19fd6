/**
 * log(erfc(x)) to near double precision for every real x, including x far beyond the point
 * (≈ 26.5) where erfc itself underflows. The fractional-order RDP sum needs it for
 * Gaussian tail probabilities of (i − z₀)/(√2σ), which reach hundreds for large orders.
 *
 *   x < 0      erfc(x) = 2 − erfc(−x), a value in (1, 2]: no precision issue.
 *   0 ≤ x < 2  erfc(x) = 1 − erf(x), with erf from the all-positive series
 *              erf(x) = (2x/√π)·e^(−x²)·Σₙ (2x²)ⁿ / (1·3·5···(2n+1))   (Abramowitz–Stegun 7.1.6);
 *              no alternating signs, so no cancellation; at x = 2, 1 − erf loses ~2 digits.
 *   x ≥ 2      Laplace's continued fraction (A&S 7.1.14), evaluated bottom-up in log form:
 *              erfc(x) = e^(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + …)))))
 */
const LOG_SQRT_PI = 0.5 * Math.log(Math.PI);
const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);
const SERIES_LIMIT = 2;
/** Depth of the continued fraction; 120 levels give full double precision already at x = 2. */
const FRACTION_DEPTH = 120;

export function logErfc(x: number): number {
  if (Number.isNaN(x)) return Number.NaN;
  if (x < 0) return Math.log(2 - erfcNonNegative(-x));
  if (x < SERIES_LIMIT) return Math.log(erfcNonNegative(x));
  let fraction = x;
  for (let k = FRACTION_DEPTH; k >= 1; k--) fraction = x + k / 2 / fraction;
  return -x * x - LOG_SQRT_PI - Math.log(fraction);
}

/** erfc(x) for x ≥ 0; tiny but correct (down to underflow) beyond the series range. */
function erfcNonNegative(x: number): number {
  if (x >= SERIES_LIMIT) return Math.exp(logErfc(x));
  const twoXSquared = 2 * x * x;
  let term = 1;
  let sum = 1;
  for (let n = 1; term > 1e-17 * sum; n++) {
    term *= twoXSquared / (2 * n + 1);
    sum += term;
  }
  return 1 - TWO_OVER_SQRT_PI * x * Math.exp(-x * x) * sum;
}
