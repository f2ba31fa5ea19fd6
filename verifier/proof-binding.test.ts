import { describe, expect, it } from "vitest";
import { poseidonSponge } from "../protocol/proving/poseidon.js";
import {
  contextValue,
  DATA_VALIDITY_INDEX,
  type ProofContextParameters,
} from "../protocol/proving/proof-context.js";
import { type ProofBindingParameters, proofBindingProblems } from "./proof-binding.js";

const context: ProofContextParameters = {
  jobId: "job-1",
  round: 2,
  globalModelHash: "ab".repeat(32),
  deviceId: "sim-001",
};

/** Public signals of two chained chunks and a data proof, as honest proofs would carry them. */
function honest(): ProofBindingParameters {
  const commitments = [11n, 22n];
  const chunk = (j: number, partial: bigint, before: bigint) => ({
    circuitId: "update-norm-n64-b16-abc",
    proof: {},
    publicSignals: [commitments[j]!, partial, contextValue(context, j), 100n, before].map(String),
  });
  return {
    ...context,
    parentHash: `0x${context.globalModelHash}`,
    commitment: poseidonSponge(commitments).toString(16),
    samples: 40,
    proofs: [
      chunk(0, 30n, 0n),
      chunk(1, 50n, 30n),
      {
        circuitId: "data-validity-d6-f8-k2-fb8-lb8-abc",
        proof: {},
        publicSignals: [contextValue(context, DATA_VALIDITY_INDEX), 7n, 40n].map(String),
      },
    ],
  };
}

function withSignal(
  parameters: ProofBindingParameters,
  proof: number,
  index: number,
  value: bigint,
) {
  const proofs = parameters.proofs.map((p, i) =>
    i === proof
      ? { ...p, publicSignals: p.publicSignals.map((s, j) => (j === index ? String(value) : s)) }
      : p,
  );
  return { ...parameters, proofs };
}

describe("proofBindingProblems", () => {
  it("accepts proofs that describe the contribution", () => {
    expect(proofBindingProblems(honest())).toEqual([]);
  });

  it("names a proof bound to another round, device or chunk position", () => {
    expect(proofBindingProblems({ ...honest(), round: 3 })).toContain(
      "UpdateNorm proof 0 is bound to another job, round, parent model, device or chunk position",
    );
    expect(proofBindingProblems({ ...honest(), deviceId: "sim-002" })).toContain(
      "the data-validity proof is bound to another job, round, parent model or device",
    );
    const swapped = honest();
    swapped.proofs = [swapped.proofs[1]!, swapped.proofs[0]!, swapped.proofs[2]!];
    expect(proofBindingProblems(swapped).join("\n")).toMatch(
      /UpdateNorm proof 0 is bound to another/,
    );
  });

  it("names broken running sums, mixed bounds and a sum above the bound", () => {
    expect(proofBindingProblems(withSignal(honest(), 1, 4, 29n))).toContain(
      "UpdateNorm proof 1 starts from Σq² = 29, its predecessors sum to 30",
    );
    expect(proofBindingProblems(withSignal(honest(), 1, 3, 101n))).toContain(
      "UpdateNorm proof 1 proves against C2 = 101, proof 0 against 100",
    );
    const over = withSignal(withSignal(honest(), 0, 3, 60n), 1, 3, 60n);
    expect(proofBindingProblems(over)).toContain("the proven Σq² = 80 exceeds the bound C2 = 60");
  });

  it("names proofs that commit to another update, or prove another sample count", () => {
    expect(proofBindingProblems({ ...honest(), commitment: "1234" })).toContain(
      "the UpdateNorm proofs commit to another update than the anchored commitment",
    );
    expect(proofBindingProblems({ ...honest(), samples: 41 })).toContain(
      "the data-validity proof proves 40 samples, the contribution claims 41",
    );
  });
});
