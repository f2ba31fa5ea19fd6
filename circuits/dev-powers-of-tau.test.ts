import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as snarkjs from "snarkjs";
import { afterAll, describe, expect, it } from "vitest";
import { releaseSnarkjsThreads } from "../client/core/proving/release-snarkjs.js";
import { readPtauInfo } from "./build.js";
import { writeDevPowersOfTau } from "./dev-powers-of-tau.js";

const dir = mkdtempSync(join(tmpdir(), "fedproof-ptau-"));

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await releaseSnarkjsThreads();
});

describe("development powers of tau", () => {
  it("is byte-identical to what snarkjs prepares from the same accumulator", async () => {
    const plain = join(dir, "plain.ptau");
    const ours = join(dir, "ours.ptau");
    const theirs = join(dir, "theirs.ptau");
    await writeDevPowersOfTau({ power: 8, path: plain, prepared: false });
    await writeDevPowersOfTau({ power: 8, path: ours });
    await snarkjs.powersOfTau.preparePhase2(plain, theirs);
    const a = readFileSync(ours);
    const b = readFileSync(theirs);
    expect(a.length).toBe(b.length);
    expect(a.equals(b)).toBe(true);
    expect(await readPtauInfo(ours)).toEqual({ power: 8, prepared: true });
    expect(await readPtauInfo(plain)).toEqual({ power: 8, prepared: false });
  });
});
