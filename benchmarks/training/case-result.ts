/** What one training-throughput child process reports (Node or PyTorch), as JSON on stdout. */
export interface MeasuredCase {
  backend?: string;
  framework?: string;
  version?: string;
  model: string;
  threads?: number;
  parameters: number;
  batchSize: number;
  samples: number;
  seconds: number;
  samplesPerSecond: number;
  /** Samples per second of CPU time the process used; null when the clock did not move. */
  samplesPerCpuSecond: number | null;
  /** Mean training loss of the timed run: shows the step learned something. */
  loss: number;
  /** Resident set once the runtime and the data are loaded, before the model exists. */
  rssBeforeModelMiB: number;
  /** The process's peak resident set size over its whole life. */
  peakRssMiB: number;
}

export interface SkippedCase {
  backend: string;
  model: string;
  skipped: string;
}

export type NodeCaseResult = MeasuredCase | SkippedCase;

export function isSkipped(result: NodeCaseResult): result is SkippedCase {
  return "skipped" in result;
}
