import type { JobSpec } from "../job/job-spec.js";

/**
 * Integer units per feature unit in data-validity records, so that the schema's max − min spans
 * the circuit's feature range exactly: [0, 1] pixels at 8 feature bits become 0..255. The
 * coordinator fixes it when it prepares a job's circuits; a verifier recomputes it from the spec
 * and the circuit, so the bounds a proof checked are the schema's and no one else's.
 */
export function featureScaleFor(schema: JobSpec["schema"], featureBits: number): number {
  return (2 ** featureBits - 1) / (schema.max - schema.min);
}
