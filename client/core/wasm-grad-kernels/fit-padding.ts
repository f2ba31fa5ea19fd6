export interface FitPaddingParameters {
  /** Length of the (stride-spread) gradient along this axis. */
  spreadLength: number;
  /** Length of the forward input along this axis, which the result must cover. */
  inLength: number;
  /** (K − 1) · dilation. */
  filterSpan: number;
  /** Padding the forward pass put before this axis. */
  forwardPadBefore: number;
}

export interface FitPaddingReturnType {
  before: number;
  after: number;
  /** First output row (column) of the transposed convolution that belongs to dx. */
  begin: number;
}

/**
 * Padding, along one axis, for the stride-1 convolution that computes an input gradient.
 * Its natural leading pad, (K−1)·d − p, goes negative when the forward pass padded more
 * than the filter spans; a convolution cannot pad negatively, so the surplus rows are
 * computed and cut from the output instead.
 */
export function fitPadding(parameters: FitPaddingParameters): FitPaddingReturnType {
  const { spreadLength, inLength, filterSpan, forwardPadBefore } = parameters;
  const natural = filterSpan - forwardPadBefore;
  const before = Math.max(0, natural);
  const begin = before - natural;
  const after = Math.max(0, begin + inLength + filterSpan - spreadLength - before);
  return { before, after, begin };
}
