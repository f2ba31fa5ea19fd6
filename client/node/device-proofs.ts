/**
 * A device's side of a job with proofs: its Baby Jubjub key and signed dataset commitment
 * (made once, before Join), the circuits fetched from the coordinator by hash, and per round
 * the UpdateNorm chunk proofs (in parallel on a pool of worker threads, one per core within a
 * memory budget) plus one DataValidity proof on a worker of its own, so the device's gRPC
 * streams and timers stay responsive.
 */
import { createHash } from "node:crypto";
import type * as grpc from "@grpc/grpc-js";
import { FedproofError, InvalidArgumentError, quote } from "../../common/errors.js";
import type { ArtifactChunk__Output } from "../../proto/generated/fedproof/v1/ArtifactChunk.js";
import type { CoordinatorClient } from "../../proto/generated/fedproof/v1/Coordinator.js";
import type { KzgChunk } from "../../proto/generated/fedproof/v1/KzgChunk.js";
import type { Proof } from "../../proto/generated/fedproof/v1/Proof.js";
import type { ProofSetup__Output } from "../../proto/generated/fedproof/v1/ProofSetup.js";
import type { Dataset } from "../../protocol/data/dataset.js";
import {
  type AttesterSet,
  attesterSetFromJson,
  type DatasetAttestation,
} from "../../protocol/proving/attester-set.js";
import { isChallengeSeed } from "../../protocol/proving/challenge-seed.js";
import type { DataValidityParameters } from "../../protocol/proving/data-validity-parameters.js";
import {
  type CommittedDataset,
  commitDataset,
  encodeDataset,
  schemaBounds,
} from "../../protocol/proving/dataset-commitment.js";
import { randomPrivateKey } from "../../protocol/proving/eddsa-poseidon.js";
import { randomFieldElement } from "../../protocol/proving/field.js";
import { decodeSrs, type KzgSrs } from "../../protocol/proving/kzg.js";
import {
  encodeFieldElement,
  encodePublicKey,
  encodeSignature,
} from "../../protocol/proving/proof-codec.js";
import type { ProofContextParameters } from "../../protocol/proving/proof-context.js";
import { encodeKzgChunk, proveUpdate } from "../../protocol/proving/prove-update-norm.js";
import type { UpdateNormParameters } from "../../protocol/proving/update-norm-parameters.js";
import { quantizedNormBound } from "../../protocol/update/quantize.js";
import { dataValidityInputs } from "../core/proving/data-validity-inputs.js";
import { ModelIntegrityError } from "./coordinator-client.js";
import { hashRecordLeaves } from "./dataset-leaves.js";
import { createWorkerProver, type WorkerProver } from "./prove-worker.js";
import { createProverPool } from "./prover-pool.js";

export interface DeviceProverParameters {
  client: CoordinatorClient;
  setup: ProofSetup__Output;
  /** Every record the device holds: the dataset it commits to and whose size weights it. */
  data: Dataset;
  /** The 32-byte Baby Jubjub private key; a fresh random one by default. */
  privateKey?: Uint8Array;
  /**
   * An attester's signature over these records' commitment (`fedproof attester sign`):
   * checked here, before Join, so a device whose records differ from the attested ones learns
   * it before enrolling.
   */
  attestation?: DatasetAttestation;
  /**
   * Provers already running for the setup's two circuits, shared by the devices of one
   * process (a simulated fleet): no circuit is downloaded, no thread started, and `close()`
   * leaves them running for their owner. Default: the device's own, on two worker threads.
   */
  provers?: { updateNorm: WorkerProver; dataValidity: WorkerProver };
  /**
   * Memory the chunk provers may use at once, in MB (default $FEDPROOF_PROVER_MEMORY_MB, else
   * half the machine's RAM): one 2^16 chunk proof peaks at ~700 MB, so this and the cores
   * decide how many chunks are proven in parallel.
   */
  proverMemoryMB?: number;
  /**
   * The job's KZG SRS, already fetched and checked (a simulated fleet shares one). Default:
   * fetched by the setup's hash with GetArtifact, like the circuit files.
   */
  srs?: KzgSrs;
}

/** The Join fields of a device with proofs. */
export interface Enrolment {
  publicKey: Uint8Array;
  datasetCommitment: Uint8Array;
  datasetSignature: Uint8Array;
  samples: number;
}

export interface RoundProofsParameters {
  context: ProofContextParameters;
  q: Int32Array;
  clipNorm: number;
  scale: number;
}

export interface RoundProofsReturnType {
  proofs: Proof[];
  /** Per chunk proof, its KZG commitment, opening and blinding (proto KzgChunk). */
  kzg: KzgChunk[];
  commitment: Uint8Array;
  salt: Uint8Array;
  /** Wall time from the first witness to the last proof. */
  seconds: number;
}

interface Provers {
  update: WorkerProver & { size?: number };
  data: WorkerProver;
  srs: KzgSrs;
}

/**
 * The job's KZG SRS from the coordinator, by the hash its proof setup names (GetArtifact checks
 * the bytes against it), decoded (every point checked) and large enough for the chunk circuit.
 */
export async function downloadSrs(
  client: CoordinatorClient,
  setup: ProofSetup__Output,
): Promise<KzgSrs> {
  if (!setup.srsSha256) {
    throw new InvalidArgumentError(
      "the job's proof setup names no KZG SRS: its coordinator predates KZG commitments",
    );
  }
  const srs = decodeSrs(await downloadArtifact(client, setup.srsSha256));
  const circuit = JSON.parse(setup.updateNorm!.parametersJson) as UpdateNormParameters;
  if (srs.size < circuit.n + 2 || srs.size !== setup.srsSize) {
    throw new InvalidArgumentError(
      `the job's KZG SRS has ${srs.size} powers, its setup says ${setup.srsSize} and the chunk circuit needs ${circuit.n + 2}`,
    );
  }
  return srs;
}

export class DeviceProver {
  /**
   * The job's attester set, once the device knows the job names one (from the Join's spec):
   * data proofs then show that a key of the set signed the dataset. Unset: self-attested.
   */
  attesterSet?: AttesterSet;

  private constructor(
    readonly setup: ProofSetup__Output,
    readonly dataset: CommittedDataset,
    private readonly provers: Promise<Provers>,
  ) {
    // Observed at the first proof (or close); never an unhandled rejection meanwhile.
    provers.catch(() => {});
  }

  /**
   * Commits to the dataset, and starts fetching both circuits (hash checked) and the provers
   * without waiting for them: Join needs only the signed commitment, so the device enrols (and
   * is online) while its provers load, and a first round's proofs wait for them if need be.
   */
  static async create(parameters: DeviceProverParameters): Promise<DeviceProver> {
    const { client, setup, data } = parameters;
    const updateNorm = setup.updateNorm!;
    const dataValidity = setup.dataValidity!;
    const dataParameters = JSON.parse(dataValidity.parametersJson) as DataValidityParameters;
    const records = encodeDataset(data, {
      featureScale: setup.featureScale,
      min: data.schema.min,
      max: data.schema.max,
    });
    // One Poseidon sponge per record is most of enrolment's cost: hash them on every core.
    const leaves = await hashRecordLeaves({ records, parameters: dataParameters });
    const committed = commitDataset({
      parameters: dataParameters,
      records,
      leaves,
      privateKey: parameters.privateKey ?? randomPrivateKey(),
      ...(parameters.attestation ? { attestation: parameters.attestation } : {}),
    });
    const shared = parameters.provers;
    if (shared) {
      const keep = async () => {};
      return new DeviceProver(
        setup,
        committed,
        (parameters.srs ? Promise.resolve(parameters.srs) : downloadSrs(client, setup)).then(
          (srs) => ({
            update: { prove: shared.updateNorm.prove, close: keep },
            data: { prove: shared.dataValidity.prove, close: keep },
            srs,
          }),
        ),
      );
    }
    const start = async (): Promise<Provers> => {
      const [uWasm, uZkey, dWasm, dZkey, srs] = await Promise.all([
        downloadArtifact(client, updateNorm.wasmSha256),
        downloadArtifact(client, updateNorm.zkeySha256),
        downloadArtifact(client, dataValidity.wasmSha256),
        downloadArtifact(client, dataValidity.zkeySha256),
        parameters.srs ?? downloadSrs(client, setup),
      ]);
      // The chunks of an update are independent proofs: one worker per core the device may
      // use (within the memory budget), each holding the key and witness generator for the
      // device's whole life.
      const update = await createProverPool({
        wasm: uWasm,
        zkey: uZkey,
        ...(parameters.proverMemoryMB ? { memoryBudgetMB: parameters.proverMemoryMB } : {}),
      });
      const data = await createWorkerProver({ wasm: dWasm, zkey: dZkey }).catch(
        async (error: unknown) => {
          await update.close();
          throw error;
        },
      );
      return { update, data, srs };
    };
    return new DeviceProver(setup, committed, start());
  }

  enrolment(): Enrolment {
    return {
      publicKey: encodePublicKey(this.dataset.publicKey),
      datasetCommitment: encodeFieldElement(this.dataset.commitment),
      datasetSignature: encodeSignature(this.dataset.signature),
      samples: this.dataset.sampleCount,
    };
  }

  /**
   * The data proof depends only on the round's context, not on the update: start it as soon as
   * the task arrives and it runs while the device trains.
   */
  proveData(
    context: ProofContextParameters,
    schema: { min: number; max: number; classes: number },
  ) {
    const started = performance.now();
    const bounds = schemaBounds({ featureScale: this.setup.featureScale, ...schema });
    const { input } = dataValidityInputs({
      dataset: this.dataset,
      context,
      minSamples: this.setup.minSamples,
      featureMin: bounds.featureMin,
      featureMax: bounds.featureMax,
      classes: schema.classes,
      ...(this.attesterSet ? { attesterSet: this.attesterSet } : {}),
    });
    return this.provers
      .then((provers) => provers.data.prove(input))
      .then((proof) => ({
        proof,
        started,
        seconds: (performance.now() - started) / 1000,
      }));
  }

  /** The chunk proofs of one update, with a fresh salt; joins the data proof started earlier. */
  async proveRound(
    parameters: RoundProofsParameters,
    dataProof: ReturnType<DeviceProver["proveData"]>,
  ): Promise<RoundProofsReturnType> {
    const circuit = JSON.parse(this.setup.updateNorm!.parametersJson) as UpdateNormParameters;
    const salt = randomFieldElement();
    const started = performance.now();
    const provers = await this.provers;
    const update = await proveUpdate({
      q: parameters.q,
      circuit: { n: circuit.n, bits: circuit.bits },
      salt,
      context: parameters.context,
      c2: quantizedNormBound(parameters.clipNorm, parameters.scale),
      srs: provers.srs,
      prover: provers.update.prove,
      concurrency: provers.update.size ?? 1,
    });
    const data = await dataProof;
    const asProof = (circuitId: string, p: { proof: unknown; publicSignals: string[] }) => ({
      circuitId,
      proofJson: JSON.stringify(p.proof),
      publicSignals: p.publicSignals,
    });
    return {
      proofs: [
        ...update.proofs.map((p) => asProof(this.setup.updateNorm!.circuitId, p)),
        asProof(this.setup.dataValidity!.circuitId, data.proof),
      ],
      kzg: update.kzg.map(encodeKzgChunk),
      commitment: encodeFieldElement(update.commitment),
      salt: encodeFieldElement(salt),
      // Prover time of the round: the chunk proofs' wall time plus the data proof's, which
      // mostly overlaps training and so is not added to the round's latency.
      seconds: (performance.now() - started) / 1000 + data.seconds,
    };
  }

  async close(): Promise<void> {
    const provers = await this.provers.catch(() => undefined);
    if (provers) await Promise.all([provers.update.close(), provers.data.close()]);
  }
}

/** Fetches one circuit file by hash and checks the bytes are what the hash names. */
export async function downloadArtifact(
  client: CoordinatorClient,
  sha256: string,
): Promise<Uint8Array> {
  const stream = client.getArtifact({ sha256 }) as grpc.ClientReadableStream<ArtifactChunk__Output>;
  const parts: Buffer[] = [];
  let size = 0;
  let announced: string | undefined;
  for await (const chunk of stream as AsyncIterable<ArtifactChunk__Output>) {
    if (chunk.header) announced = String(chunk.header.sizeBytes);
    else if (chunk.data) {
      parts.push(chunk.data);
      size += chunk.data.byteLength;
    }
  }
  const bytes = Buffer.concat(parts, size);
  if (announced !== String(size)) {
    throw new ModelIntegrityError(
      `artifact ${sha256} carried ${size} bytes, the header announced ${announced ?? "none"}`,
    );
  }
  const actual = createHash("sha256").update(bytes).digest("hex");
  if (actual !== sha256)
    throw new ModelIntegrityError(`artifact bytes hash to ${actual}, expected ${sha256}`);
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** The coordinator revealed a round seed that is not in the chain the job's spec committed to. */
export class ChallengeSeedError extends FedproofError {
  override name = "ChallengeSeedError";
}

/**
 * Checks the task's challenge seed against the commitment in the spec (which the chain's spec
 * hash pins) before proving with it: a seed chosen after enrolment could steer the challenge
 * towards the records a colluding device knows are well formed.
 */
export function requireCommittedSeed(commitment: string, round: number, seed: string): void {
  if (isChallengeSeed(commitment, round, seed)) return;
  throw new ChallengeSeedError(
    `the coordinator's challenge seed for round ${round} is not in the chain the job committed to`,
    { details: `seed ${quote(seed)}, commitment ${quote(commitment)}` },
  );
}

/**
 * The attester set a device proves membership in, from what the job pins (the Join's spec:
 * root, depth, perhaps the keys) and the set the device was given (`--attester-set`): the
 * given set must hash to the job's root, so a device never proves against a set the chain
 * does not pin. Undefined for a job without attesters: its proofs are self-attested.
 */
export function jobAttesterSet(parameters: {
  pinned: { root: string; depth: number; keys: readonly { x: string; y: string }[] } | null;
  given?: AttesterSet;
  attested: boolean;
}): AttesterSet | undefined {
  const { pinned, given } = parameters;
  if (!pinned?.root) return undefined;
  const set =
    given ??
    (pinned.keys.length > 0
      ? attesterSetFromJson({ ...pinned, keys: [...pinned.keys] })
      : undefined);
  if (!set) {
    throw new InvalidArgumentError(
      `the job pins attester root ${pinned.root} but publishes no keys: give the set with --attester-set FILE`,
    );
  }
  if (set.root.toString() !== pinned.root || set.depth !== pinned.depth) {
    throw new InvalidArgumentError(
      `the attester set given has root ${set.root} (depth ${set.depth}), the job pins root ${pinned.root} (depth ${pinned.depth})`,
    );
  }
  if (!parameters.attested) {
    throw new InvalidArgumentError(
      "the job accepts only data signed by its attester set: give the attester's signature with --attestation FILE",
    );
  }
  return set;
}

/** Whether a setup asks for proofs (a job without proofs answers an empty one). */
export function requiresProofs(setup: ProofSetup__Output | undefined): boolean {
  return Boolean(setup?.updateNorm?.circuitId);
}
