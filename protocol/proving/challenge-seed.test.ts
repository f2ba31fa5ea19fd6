import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { challengeSeedAt, createChallengeChain, isChallengeSeed } from "./challenge-seed.js";

describe("challenge seed chain", () => {
  it("links each seed to the commitment by SHA-256, cross-checked with node:crypto", () => {
    const chain = createChallengeChain(5);
    for (let r = 1; r <= 5; r++) {
      const previous = createHash("sha256")
        .update(Buffer.from(chain.seeds[r]!, "hex"))
        .digest("hex");
      expect(previous).toBe(chain.seeds[r - 1]);
      expect(isChallengeSeed(chain.commitment, r, chain.seeds[r]!)).toBe(true);
    }
  });

  it("refuses a seed of another round, another chain, or a malformed one", () => {
    const chain = createChallengeChain(4);
    const other = createChallengeChain(4);
    expect(isChallengeSeed(chain.commitment, 2, chain.seeds[3]!)).toBe(false);
    expect(isChallengeSeed(chain.commitment, 2, other.seeds[2]!)).toBe(false);
    expect(isChallengeSeed(chain.commitment, 0, chain.seeds[0]!)).toBe(false);
    expect(isChallengeSeed(chain.commitment, 1, "zz")).toBe(false);
  });

  it("draws a fresh secret each time", () => {
    expect(createChallengeChain(2).commitment).not.toBe(createChallengeChain(2).commitment);
  });
});

describe("challengeSeedAt", () => {
  it("derives every round's seed from the secret end alone", () => {
    const chain = createChallengeChain(6);
    for (let r = 0; r <= 6; r++)
      expect(challengeSeedAt(chain.seeds[6]!, 6, r)).toBe(chain.seeds[r]);
    expect(() => challengeSeedAt(chain.seeds[6]!, 6, 7)).toThrow(/outside the challenge chain/);
  });
});
