import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../common/errors.js";
import { fedAvg } from "./fed-avg.js";
import { updatesFrom, values } from "./test-updates.js";

describe("fedAvg", () => {
  it("weights each delta by its sample count", () => {
    // (1·[1, 2] + 3·[3, −2]) / (1 + 3) = [1 + 9, 2 − 6] / 4 = [2.5, −1]
    const mean = fedAvg(
      updatesFrom(
        [
          [1, 2],
          [3, -2],
        ],
        [1, 3],
      ),
    );
    expect(values(mean)).toEqual([2.5, -1]);
  });

  it("accumulates in float64, so small updates survive next to large ones", () => {
    // In float32, 2^24 + 1 rounds back to 2^24 and the mean would come out 0; the exact
    // mean is (2^24 + 1 − 2^24) / 3 = 1/3.
    const mean = fedAvg(updatesFrom([[2 ** 24], [1], [-(2 ** 24)]]));
    expect(mean[0]).toBeCloseTo(1 / 3, 7);
  });

  it("returns a fresh float32 array and leaves the inputs alone", () => {
    const updates = updatesFrom([[1, 1]]);
    const mean = fedAvg(updates);
    expect(mean).toBeInstanceOf(Float32Array);
    mean[0] = 42;
    expect(updates[0].delta[0]).toBe(1);
  });

  it.each([
    ["an empty list", updatesFrom([]), /empty list/],
    ["mismatched lengths", updatesFrom([[1, 2], [1]]), /b has the wrong length/],
    ["a zero weight", updatesFrom([[1]], [0]), /invalid weight/],
    ["a negative weight", updatesFrom([[1]], [-2]), /invalid weight/],
    ["a NaN weight", updatesFrom([[1]], [Number.NaN]), /invalid weight/],
    ["an infinite weight", updatesFrom([[1]], [Number.POSITIVE_INFINITY]), /invalid weight/],
    ["a NaN value", updatesFrom([[1], [Number.NaN]]), /b holds a non-finite/],
    ["an infinite value", updatesFrom([[Number.NEGATIVE_INFINITY]]), /a holds a non-finite/],
    ["weights that overflow", updatesFrom([[1], [1]], [Number.MAX_VALUE, Number.MAX_VALUE]), /sum/],
  ])("rejects %s", (_, updates, message) => {
    expect(() => fedAvg(updates)).toThrow(InvalidArgumentError);
    expect(() => fedAvg(updates)).toThrow(message);
  });
});
