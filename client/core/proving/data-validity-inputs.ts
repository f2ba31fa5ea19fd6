import type { CircuitInput } from "snarkjs";
import { InvalidArgumentError } from "../../../common/errors.js";
import {
  type DataValiditySignals,
  encodeDataValiditySignals,
} from "../../../protocol/proofs/public-signals.js";
import {
  type AttesterSet,
  attesterMembership,
  checkAttesterSetFits,
} from "../../../protocol/proving/attester-set.js";
import {
  type CommittedDataset,
  datasetNullifier,
  merkleSiblings,
  sampledIndices,
} from "../../../protocol/proving/dataset-commitment.js";
import { idToField, toField } from "../../../protocol/proving/field.js";
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
  /**
   * The job's attester set, when it names one: the proof then shows that a key of the set
   * signed the dataset (`dataset.attestation`) and carries the set's root. Without it the
   * proof is self-attested (attesterRoot = 0).
   */
  attesterSet?: AttesterSet;
}

export interface DataValidityInputsReturnType {
  input: CircuitInput;
  /** The proof's public signals, in circuit order (protocol/proofs/public-signals.ts). */
  publicSignals: string[];
  /** The same signals by name. */
  signals: DataValiditySignals;
  /** Which records this round's challenge opens. */
  indices: number[];
}

/** Witness input for one round's data-validity proof. */
export function dataValidityInputs(
  parameters: DataValidityInputsParameters,
): DataValidityInputsReturnType {
  const { dataset, minSamples, featureMin, featureMax, classes, attesterSet } = parameters;
  const { samples, attesterDepth } = dataset.parameters;
  const context = contextValue(parameters.context, DATA_VALIDITY_INDEX);
  const indices = sampledIndices(context, dataset.sampleCount, samples);
  const jobScope = idToField(parameters.context.jobId);
  if (attesterSet) {
    checkAttesterSetFits(attesterSet, dataset.parameters);
    if (!dataset.attestation) {
      throw new InvalidArgumentError(
        "the job accepts only attested data, and this dataset carries no attester's signature",
      );
    }
  }
  const signals: DataValiditySignals = {
    context,
    datasetCommitment: dataset.commitment,
    sampleCount: BigInt(dataset.sampleCount),
    minSamples: BigInt(minSamples),
    featureMin: toField(featureMin),
    featureMax: toField(featureMax),
    classes: BigInt(classes),
    publicKeyX: dataset.publicKey.x,
    publicKeyY: dataset.publicKey.y,
    attesterRoot: attesterSet ? attesterSet.root : 0n,
    jobScope,
    nullifier: datasetNullifier(jobScope, dataset.tree.root, dataset.sampleCount),
  };
  const publicSignals = encodeDataValiditySignals(signals);
  const field = (v: bigint) => toField(v).toString();
  const input: CircuitInput = {
    ...Object.fromEntries(Object.entries(signals).map(([name, v]) => [name, v.toString()])),
    root: dataset.tree.root.toString(),
    signatureR8x: dataset.signature.R8x.toString(),
    signatureR8y: dataset.signature.R8y.toString(),
    signatureS: dataset.signature.S.toString(),
    values: indices.map((i) => dataset.records[i].values.map(field)),
    labels: indices.map((i) => BigInt(dataset.records[i].label).toString()),
    siblings: indices.map((i) => merkleSiblings(dataset.tree, i).map(String)),
  };
  if (attesterDepth > 0) {
    // Self-attested proofs on a circuit with an attester check still fill its inputs: with the
    // device's own key and signature, the disabled verifier's internal constraints (point
    // arithmetic, S < ℓ) hold as they do for a real signature; attesterRoot = 0 switches off
    // only the final equalities and the root comparison.
    const attestation = attesterSet ? dataset.attestation! : dataset;
    const membership = attesterSet
      ? attesterMembership(attesterSet, attestation.publicKey)
      : { index: 0, siblings: new Array<bigint>(attesterDepth).fill(0n) };
    Object.assign(input, {
      attesterKeyX: attestation.publicKey.x.toString(),
      attesterKeyY: attestation.publicKey.y.toString(),
      attesterSignatureR8x: attestation.signature.R8x.toString(),
      attesterSignatureR8y: attestation.signature.R8y.toString(),
      attesterSignatureS: attestation.signature.S.toString(),
      attesterIndex: membership.index.toString(),
      attesterSiblings: membership.siblings.map(String),
    });
  }
  return { input, publicSignals, signals, indices };
}
