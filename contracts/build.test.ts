import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { buildContracts } from "./build.js";

const outDir = await mkdtemp(join(tmpdir(), "fedproof-contracts-"));
afterAll(() => rm(outDir, { recursive: true, force: true }));

describe("buildContracts", () => {
  it("compiles with the bundled solcjs, writes typed constants, and skips an up-to-date build", async () => {
    const first = await buildContracts({ outDir });
    expect(first.skipped).toBe(false);
    expect(first.warnings).toEqual([]);
    expect(first.outFiles).toEqual([
      join(outDir, "fedproof-registry.ts"),
      join(outDir, "fedproof-credits.ts"),
    ]);
    // The registry imports OpenZeppelin (resolved from node_modules): its errors are in the ABI.
    const credits = await readFile(first.outFiles[1]!, "utf8");
    expect(credits).toMatch(/"name": "ERC20InsufficientBalance"/);

    const text = await readFile(first.outFiles[0]!, "utf8");
    expect(text).toContain(`// source-hash: ${first.sourceHash}`);
    expect(text).toMatch(
      /export const fedproofRegistryAbi = \[[\s\S]*"name": "anchorRound"[\s\S]*\] as const;/,
    );
    expect(text).toMatch(/export const fedproofRegistryBytecode = "0x[0-9a-f]{1000,}" as const;/);

    const second = await buildContracts({ outDir });
    expect(second).toMatchObject({ skipped: true, sourceHash: first.sourceHash });
  });

  it("rebuilds when the stored hash does not match, or when forced", async () => {
    const { outFiles, sourceHash } = await buildContracts({ outDir });
    const text = await readFile(outFiles[0]!, "utf8");
    await writeFile(outFiles[0]!, text.replace(sourceHash, "sha256:stale"));
    expect((await buildContracts({ outDir })).skipped).toBe(false);
    expect(await readFile(outFiles[0]!, "utf8")).toBe(text);
    expect((await buildContracts({ outDir, force: true })).skipped).toBe(false);
  });
});
