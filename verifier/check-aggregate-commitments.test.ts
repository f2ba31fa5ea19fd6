/**
 * checkAggregateCommitments on its own, over a small SRS from a development ptau: two
 * contributions of 12 values in chunks of n = 8 (the second chunk zero-padded), committed and
 * opened as a device does, their aggregate S and blinding R computed as the aggregate worker
 * does. The honest round matches; a tampered R or S, a changed weight, a contribution left out
 * or a wrong opening is a mismatch naming the round (and the chunk or the device).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeDevPowersOfTau } from "../circuits/dev-powers-of-tau.js";
import { releaseSnarkjsThreads } from "../client/core/proving/release-snarkjs.js";
import { aggregateBlinding } from "../coordinator/aggregation/aggregate-blinding.js";
import { encodeAggregate } from "../protocol/aggregation/aggregate-codec.js";
import { sumWeightedUpdates } from "../protocol/aggregation/exact-aggregate.js";
import { type JobSpec, parseJobSpec } from "../protocol/job/job-spec.js";
import { uniformFieldElement } from "../protocol/proving/field.js";
import {
  type KzgSrs,
  kzgCommit,
  kzgOpen,
  readSrsFromPtau,
  toField,
} from "../protocol/proving/kzg.js";
import { kzgChallenge } from "../protocol/proving/kzg-challenge.js";
import {
  type CheckAggregateCommitmentsParameters,
  checkAggregateCommitments,
} from "./check-aggregate-commitments.js";
import { type BundleRound, base64OfBytes } from "./provenance-bundle.js";

const N = 8;
const LENGTH = 12;
const CHUNK_CIRCUIT = "update-norm-test";
const dir = mkdtempSync(join(tmpdir(), "fedproof-aggregate-commitments-"));
let srs: KzgSrs;
const spec: JobSpec = parseJobSpec({
  schema: { featureShape: [2], min: 0, max: 1, classes: 2 },
  proofs: true,
});

interface Device {
  deviceId: string;
  samples: number;
  q: Int32Array;
  blindings: [string, string][];
  contribution: BundleRound["contributions"][number];
}

const hex64 = (value: bigint) => value.toString(16).padStart(64, "0");

/** A device's contribution as the bundle carries it: chunk proofs' signals, C and π per chunk. */
async function device(deviceId: string, samples: number, seed: number): Promise<Device> {
  const q = new Int32Array(LENGTH).map((_, i) => ((i * 7 + seed) % 11) - 5);
  const blindings: [string, string][] = [];
  const proofs = [];
  const kzgCommitments: `0x${string}`[] = [];
  const kzgOpenings: `0x${string}`[] = [];
  for (let k = 0; k * N < LENGTH; k++) {
    const rho = [uniformFieldElement(), uniformFieldElement()] as const;
    blindings.push([hex64(rho[0]), hex64(rho[1])]);
    const coefficients = Array.from({ length: N }, (_, j) =>
      toField(BigInt(q[k * N + j] ?? 0)),
    ).concat(rho);
    const commitment = await kzgCommit(srs, coefficients);
    // The Poseidon commitment and context only enter x here; any field elements do.
    const poseidon = BigInt(seed * 100 + k + 1);
    const context = BigInt(seed * 1000 + k + 7);
    const x = kzgChallenge({ context, commitment: poseidon, kzgCommitment: commitment });
    const { value, proof } = await kzgOpen(srs, coefficients, x);
    // [commitment, partialSum, evaluation, context, c2, sumBefore, kzgChallenge]
    const signals = [poseidon, 0n, value, context, 0n, 0n, x].map(String);
    proofs.push({ circuitId: CHUNK_CIRCUIT, proof: {}, publicSignals: signals });
    kzgCommitments.push(commitment);
    kzgOpenings.push(proof);
  }
  proofs.push({ circuitId: "data-validity-test", proof: {}, publicSignals: [] });
  return {
    deviceId,
    samples,
    q,
    blindings,
    contribution: {
      deviceId,
      samples,
      proofs,
      kzgCommitments,
      kzgOpenings,
    } as unknown as BundleRound["contributions"][number],
  };
}

/** The round as the bundle carries it, S and R from `inAggregate` with their weights. */
function round(
  devices: Device[],
  inAggregate: { device: Device; weight: number }[] = devices.map((d) => ({
    device: d,
    weight: d.samples,
  })),
): BundleRound {
  const aggregate = sumWeightedUpdates(
    inAggregate.map(({ device, weight }) => ({ id: device.deviceId, q: device.q, weight })),
    LENGTH,
  );
  return {
    round: 2,
    aggregate: base64OfBytes(encodeAggregate(aggregate)),
    aggregateBlinding: aggregateBlinding(
      inAggregate.map(({ device, weight }) => ({
        id: device.deviceId,
        weight,
        blindings: device.blindings,
      })),
    ),
    contributions: devices.map((d) => d.contribution),
  } as unknown as BundleRound;
}

const check = (
  bundled: BundleRound,
  overrides: Partial<CheckAggregateCommitmentsParameters> = {},
) =>
  checkAggregateCommitments({
    round: 2,
    bundled,
    spec,
    srs,
    updateNorm: { id: CHUNK_CIRCUIT, parameters: { n: N } },
    ...overrides,
  });

const sumMismatch = (chunk: number) => ({
  status: "mismatch",
  mismatches: [
    {
      message: `round 2: the aggregate is not the weighted sum of the round's committed contributions (chunk ${chunk}: Σ wᵢ·Cᵢ ≠ commitment of S)`,
    },
  ],
});

let a: Device;
let b: Device;

beforeAll(async () => {
  const ptauPath = join(dir, "p5.ptau");
  await writeDevPowersOfTau({ power: 5, path: ptauPath, prepared: false });
  srs = await readSrsFromPtau(ptauPath, N + 2);
  a = await device("device-a", 3, 1);
  b = await device("device-b", 5, 2);
}, 120_000);

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await releaseSnarkjsThreads();
});

describe("checkAggregateCommitments", () => {
  it("matches the honest round: the openings verify and Σ wᵢ·Cᵢ commits to (S, R) on each chunk", async () => {
    const honest = round([a, b]);
    expect(honest.aggregateBlinding).toHaveLength(2);
    expect(await check(honest)).toEqual({ status: "match", mismatches: [] });
  });

  it("is a mismatch naming the chunk when R is tampered", async () => {
    const tampered = round([a, b]);
    const [r0, r1] = tampered.aggregateBlinding![1]!;
    tampered.aggregateBlinding![1] = [`0x${hex64(BigInt(r0) + 1n)}`, r1];
    expect(await check(tampered)).toEqual(sumMismatch(1));
  });

  it("is a mismatch naming the chunk when S is tampered", async () => {
    const honestSum = sumWeightedUpdates(
      [a, b].map((d) => ({ id: d.deviceId, q: d.q, weight: d.samples })),
      LENGTH,
    );
    honestSum.sum[3] = honestSum.sum[3]! + 1;
    const tampered = { ...round([a, b]), aggregate: base64OfBytes(encodeAggregate(honestSum)) };
    expect(await check(tampered)).toEqual(sumMismatch(0));
  });

  it("is a mismatch when a weight changed or a contribution was left out, R recomputed to match", async () => {
    const reweighted = round(
      [a, b],
      [
        { device: a, weight: a.samples + 1 },
        { device: b, weight: b.samples },
      ],
    );
    expect(await check(reweighted)).toEqual(sumMismatch(0));
    const dropped = round([a, b], [{ device: a, weight: a.samples }]);
    expect(await check(dropped)).toEqual(sumMismatch(0));
  });

  it("names the device whose openings do not verify", async () => {
    const swapped = round([a, b]);
    const contribution = { ...b.contribution, kzgOpenings: [...a.contribution.kzgOpenings!] };
    swapped.contributions = [a.contribution, contribution];
    expect(await check(swapped)).toEqual({
      status: "mismatch",
      mismatches: [
        {
          deviceId: "device-b",
          message:
            "round 2: the KZG openings of device-b do not verify against the job's SRS at the proofs' evaluations",
        },
      ],
    });
  });

  it("is unchecked, blocking, without the blinding or the SRS; a note with central DP", async () => {
    const { aggregateBlinding: _, ...withoutBlinding } = round([a, b]);
    expect(await check(withoutBlinding as BundleRound)).toEqual({
      status: "unchecked",
      mismatches: [],
      unchecked: {
        reason:
          "round 2: aggregate commitments not checked: the bundle carries no aggregate blinding for the round",
        blocking: true,
      },
    });
    expect((await check(round([a, b]), { srs: undefined })).unchecked?.blocking).toBe(true);
    const dp = parseJobSpec({
      schema: { featureShape: [2], min: 0, max: 1, classes: 2 },
      proofs: true,
      privacy: { noiseMultiplier: 0.5 },
    });
    // With central DP the noise must be committed too (test/adversarial/dp-noise-proof.test.ts runs
    // the whole check): a round whose bundle carries no noise proof is not ok.
    const noised = await check(round([a, b]), {
      spec: dp,
      noise: {
        circuit: { id: "update-norm-n8-b20", parameters: { n: N, bits: 20 } },
        verificationKey: undefined,
        bound: { bits: 20, c2: 1n, sigma: 1, norm: 1 },
        context: undefined,
        paramCount: LENGTH,
      },
    });
    expect(noised.status).toBe("unchecked");
    expect(noised.unchecked).toEqual({
      reason:
        "round 2: aggregate commitments not checked: the bundle carries no commitment to the round's central-DP noise, so S + N is no sum of commitments",
      blocking: true,
    });
  });
});
