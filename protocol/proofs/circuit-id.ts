import type { DataValidityParameters } from "../proving/data-validity-parameters.js";
import type { UpdateNormParameters } from "../proving/update-norm-parameters.js";

/**
 * A circuit's parameters read back from its id (circuits/circuit-catalog.ts `circuitName`, then
 * a hash of the build): `update-norm-n64-b16-…`, `data-validity-d6-f8-k2-fb8-lb8-…`. A verifier
 * holding only the job's keys by id learns from it how many values one chunk proof covers and how
 * features were encoded. The id is a label the job pinned on chain together with the key; that
 * the key really is the named circuit's is what `fedproof circuits build` reproduces.
 */
export type CircuitOfId =
  | { kind: "update-norm"; parameters: UpdateNormParameters }
  | { kind: "data-validity"; parameters: DataValidityParameters };

const UPDATE_NORM = /^update-norm-n(\d+)-b(\d+)(?:-|$)/;
const DATA_VALIDITY = /^data-validity-d(\d+)-f(\d+)-k(\d+)-fb(\d+)-lb(\d+)(?:-ad(\d+))?(?:-|$)/;

/** The circuit an id names; undefined when it names neither known template. */
export function circuitOfId(id: string): CircuitOfId | undefined {
  const norm = UPDATE_NORM.exec(id);
  if (norm)
    return { kind: "update-norm", parameters: { n: Number(norm[1]), bits: Number(norm[2]) } };
  const data = DATA_VALIDITY.exec(id);
  if (data) {
    const [depth, features, samples, featureBits, labelBits] = data.slice(1, 6).map(Number) as [
      number,
      number,
      number,
      number,
      number,
    ];
    // Circuits built before attesters existed name no depth: they check no attester.
    const attesterDepth = data[6] === undefined ? 0 : Number(data[6]);
    return {
      kind: "data-validity",
      parameters: { depth, features, samples, featureBits, labelBits, attesterDepth },
    };
  }
  return undefined;
}
