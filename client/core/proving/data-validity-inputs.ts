import type { CircuitInput } from "snarkjs";
import {
  type CommittedDataset,
  merkleSiblings,
  sampledIndices,
} from "../../../protocol/proving/dataset-commitment.js";
import { toField } from "../../../protocol/proving/field.js";
import {
  contextValue,
  DATA_VALIDITY_INDEX,
  type ProofContextParameters,
} from "../../../protocol/proving/proof-context.js";

export interface DataValidityInputsParameters {
  dataset: CommittedDataset;
  context: ProofContextParameters;
  minSamples: number;
  featureMin: bigint;
  featureMax: bigint;
  classes: number;
}

export interface DataValidityInputsReturnType {
  input: CircuitInput;
  /** The proof's public signals, in circuit order (see coordinator/proofs/public-signals.ts). */
  publicSignals: string[];
  /** Which records this round's challenge opens. */
  indices: number[];
}

/** Witness input for one round's data-validity proof. */
export function dataValidityInputs(
  parameters: DataValidityInputsParameters,
): DataValidityInputsReturnType {
  const { dataset, minSamples, featureMin, featureMax, classes } = parameters;
  const { samples } = dataset.parameters;
  const context = contextValue(parameters.context, DATA_VALIDITY_INDEX);
  const indices = sampledIndices(context, dataset.sampleCount, samples);
  const publicSignals = [
    context,
    dataset.commitment,
    BigInt(dataset.sampleCount),
    BigInt(minSamples),
    toField(featureMin),
    toField(featureMax),
    BigInt(classes),
    dataset.publicKey.x,
    dataset.publicKey.y,
  ].map(String);
  const field = (v: bigint) => toField(v).toString();
  const input: CircuitInput = {
    context: publicSignals[0],
    datasetCommitment: publicSignals[1],
    sampleCount: publicSignals[2],
    minSamples: publicSignals[3],
    featureMin: publicSignals[4],
    featureMax: publicSignals[5],
    classes: publicSignals[6],
    publicKeyX: publicSignals[7],
    publicKeyY: publicSignals[8],
    root: dataset.tree.root.toString(),
    signatureR8x: dataset.signature.R8x.toString(),
    signatureR8y: dataset.signature.R8y.toString(),
    signatureS: dataset.signature.S.toString(),
    values: indices.map((i) => dataset.records[i].values.map(field)),
    labels: indices.map((i) => BigInt(dataset.records[i].label).toString()),
    siblings: indices.map((i) => merkleSiblings(dataset.tree, i).map(String)),
  };
  return { input, publicSignals, indices };
}
