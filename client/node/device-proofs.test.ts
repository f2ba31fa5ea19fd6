import { describe, expect, it } from "vitest";
import { attesterSetToJson, buildAttesterSet } from "../../protocol/proving/attester-set.js";
import { derivePublicKey, randomPrivateKey } from "../../protocol/proving/eddsa-poseidon.js";
import { jobAttesterSet } from "./device-proofs.js";

describe("jobAttesterSet", () => {
  const set = buildAttesterSet({ keys: [derivePublicKey(randomPrivateKey())], depth: 2 });
  const json = attesterSetToJson(set);
  const rootOnly = { root: json.root, depth: 2, keys: [] };

  it("is undefined for a job without attesters: the device proves self-attested data", () => {
    expect(jobAttesterSet({ pinned: null, attested: true })).toBeUndefined();
  });

  it("takes the keys the spec publishes, or a given set that hashes to the pinned root", () => {
    expect(jobAttesterSet({ pinned: json, attested: true })?.root).toBe(set.root);
    expect(jobAttesterSet({ pinned: rootOnly, given: set, attested: true })?.root).toBe(set.root);
  });

  it("refuses a set the chain does not pin, a missing set and a missing attestation", () => {
    const other = buildAttesterSet({ keys: [derivePublicKey(randomPrivateKey())], depth: 2 });
    expect(() => jobAttesterSet({ pinned: rootOnly, given: other, attested: true })).toThrow(
      `the attester set given has root ${other.root} (depth 2), the job pins root ${set.root} (depth 2)`,
    );
    expect(() => jobAttesterSet({ pinned: rootOnly, attested: true })).toThrow(
      /publishes no keys: give the set with --attester-set FILE/,
    );
    expect(() => jobAttesterSet({ pinned: json, attested: false })).toThrow(
      /give the attester's signature with --attestation FILE/,
    );
  });
});
