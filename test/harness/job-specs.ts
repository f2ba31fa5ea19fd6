import type { JobSpecInput } from "../../protocol/job/job-spec.js";

/** 16 features in [0, 1], four classes: a logreg of 68 parameters. */
export const SMALL_SCHEMA = { featureShape: [16], min: 0, max: 1, classes: 4 };

/** A one-round logreg job whose round takes exactly one device, with `spec` on top. */
export function oneDeviceJobSpec(spec: Partial<JobSpecInput> = {}): JobSpecInput {
  return {
    model: "logreg",
    schema: SMALL_SCHEMA,
    rounds: 1,
    clientsPerRound: 1,
    minClients: 1,
    overSelection: 1,
    ...spec,
  };
}
