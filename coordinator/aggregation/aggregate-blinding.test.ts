import { describe, expect, it } from "vitest";
import { FIELD_MODULUS } from "../../protocol/proving/field.js";
import { aggregateBlinding } from "./aggregate-blinding.js";

const hex = (value: bigint) => value.toString(16).padStart(64, "0");

describe("aggregateBlinding", () => {
  it("is Σ wᵢ·ρᵢ mod r per chunk and half, as 0x-prefixed 32-byte hex", () => {
    const r = FIELD_MODULUS;
    const blinding = aggregateBlinding([
      {
        id: "a",
        weight: 3,
        blindings: [
          [hex(r - 1n), hex(2n)],
          [hex(5n), hex(0n)],
        ],
      },
      {
        id: "b",
        weight: 2,
        blindings: [
          [hex(1n), hex(r - 3n)],
          [hex(7n), hex(1n)],
        ],
      },
    ]);
    expect(blinding).toEqual([
      // 3·(r − 1) + 2·1 ≡ −1, 3·2 + 2·(r − 3) ≡ 0
      [`0x${hex(r - 1n)}`, `0x${hex(0n)}`],
      [`0x${hex(29n)}`, `0x${hex(2n)}`],
    ]);
    expect(aggregateBlinding([])).toEqual([]);
  });

  it("refuses contributions with other chunk counts or values that are not field elements", () => {
    expect(() =>
      aggregateBlinding([
        { id: "a", weight: 1, blindings: [[hex(1n), hex(1n)]] },
        { id: "b", weight: 1, blindings: [] },
      ]),
    ).toThrow("contribution b carries 0 KZG blindings, the round's first carries 1");
    expect(() =>
      aggregateBlinding([{ id: "a", weight: 1, blindings: [[hex(FIELD_MODULUS), hex(1n)]] }]),
    ).toThrow("blinding 0 of chunk 0 of a is not a field element");
  });
});
