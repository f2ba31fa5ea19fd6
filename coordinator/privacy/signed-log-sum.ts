/**
 * A running sum of signed terms kept as sign·exp(log), so that sums of terms like 10⁻³⁰⁰
 * or 10³⁰⁰ neither underflow nor overflow. The fractional-order RDP series needs the
 * signs: its binomial coefficients C(α, i) alternate once i exceeds α.
 */
export class SignedLogSum {
  sign: -1 | 0 | 1 = 0;
  log = Number.NEGATIVE_INFINITY;

  add(sign: -1 | 1, logTerm: number): void {
    if (logTerm === Number.NEGATIVE_INFINITY) return;
    if (this.sign === 0) {
      this.sign = sign;
      this.log = logTerm;
      return;
    }
    const larger = Math.max(this.log, logTerm);
    const gap = -Math.abs(this.log - logTerm);
    if (sign === this.sign) {
      this.log = larger + Math.log1p(Math.exp(gap));
      return;
    }
    if (gap === 0) {
      this.sign = 0;
      this.log = Number.NEGATIVE_INFINITY;
      return;
    }
    // Opposite signs: the larger magnitude wins, reduced by the smaller one.
    if (logTerm > this.log) this.sign = sign;
    this.log = larger + Math.log1p(-Math.exp(gap));
  }
}
