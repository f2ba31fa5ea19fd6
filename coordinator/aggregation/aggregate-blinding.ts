import { InvalidArgumentError } from "../../common/errors.js";
import { FIELD_MODULUS } from "../../protocol/proving/field.js";

/** One contribution's per-chunk KZG blinding [ρ0, ρ1] (64 hex digits each, as stored) and weight. */
export interface WeightedBlinding {
  /** Names the contribution in errors (a device id). */
  id: string;
  weight: number;
  blindings: readonly (readonly [string, string])[];
}

/**
 * The round's aggregate blinding per chunk, R_k = (Σᵢ wᵢ·ρ0ᵢₖ, Σᵢ wᵢ·ρ1ᵢₖ) mod r, as 0x-prefixed
 * 32-byte hex: with the exact aggregate S it opens Σᵢ wᵢ·Cᵢ, the weighted sum of the round's KZG
 * commitments, so a verifier can check that S is the weighted sum of the proven updates
 * (circuits/README.md, "The aggregate check"). R reveals no single device's blinding when the
 * round has two or more contributions. Throws InvalidArgumentError when the contributions do not
 * all carry one blinding pair per chunk, or a value is not a field element.
 */
export function aggregateBlinding(
  contributions: readonly WeightedBlinding[],
): [`0x${string}`, `0x${string}`][] {
  const chunks = contributions[0]?.blindings.length ?? 0;
  const sums: [bigint, bigint][] = Array.from({ length: chunks }, () => [0n, 0n]);
  for (const contribution of contributions) {
    if (contribution.blindings.length !== chunks) {
      throw new InvalidArgumentError(
        `contribution ${contribution.id} carries ${contribution.blindings.length} KZG blindings, the round's first carries ${chunks}`,
      );
    }
    const w = BigInt(contribution.weight);
    contribution.blindings.forEach((pair, k) => {
      for (const half of [0, 1] as const) {
        const value = fieldOfHex(
          pair[half],
          `blinding ${half} of chunk ${k} of ${contribution.id}`,
        );
        sums[k]![half] = (sums[k]![half] + w * value) % FIELD_MODULUS;
      }
    });
  }
  return sums.map(([r0, r1]) => [hex32(r0), hex32(r1)]);
}

function fieldOfHex(text: string, what: string): bigint {
  const digits = text.replace(/^0x/, "");
  if (!/^[0-9a-fA-F]{64}$/.test(digits)) {
    throw new InvalidArgumentError(`${what} is not 32 bytes of hex`);
  }
  const value = BigInt(`0x${digits}`);
  if (value >= FIELD_MODULUS) throw new InvalidArgumentError(`${what} is not a field element`);
  return value;
}

function hex32(value: bigint): `0x${string}` {
  return `0x${value.toString(16).padStart(64, "0")}`;
}
