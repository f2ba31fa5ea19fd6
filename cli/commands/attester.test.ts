import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadCsvDataset } from "../../client/node/csv-dataset.js";
import {
  attesterMembership,
  attesterRootOf,
  attesterSetFromJson,
  datasetAttestationFromJson,
} from "../../protocol/proving/attester-set.js";
import { commitDataset, encodeDataset } from "../../protocol/proving/dataset-commitment.js";

const BIN = fileURLToPath(new URL("../../bin/fedproof.js", import.meta.url));

async function fedproof(
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [BIN, ...args], {
      env: { ...process.env, FEDPROOF_LOG_LEVEL: "silent" },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe("fedproof attester", () => {
  let dir: string;
  const file = (name: string) => join(dir, name);
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "fedproof-attester-"));
    // Six records of four features in [0, 10], label first.
    const lines = Array.from({ length: 6 }, (_, i) =>
      [i % 3, i, (i * 3) % 11, 10 - i, 5].join(","),
    );
    await writeFile(file("data.csv"), `${lines.join("\n")}\n`);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("makes keys, a set, and an attestation the device's commitment accepts", async () => {
    const keygen = await Promise.all(
      ["a", "b", "c"].map((n) =>
        fedproof("attester", "keygen", "--out", file(`${n}.json`), "--json"),
      ),
    );
    for (const run of keygen) expect(run.code).toBe(0);
    const a = JSON.parse(keygen[0]!.stdout) as { publicKey: { x: string; y: string } };
    const keyFile = JSON.parse(await readFile(file("a.json"), "utf8"));
    expect(keyFile.publicKey).toEqual(a.publicKey);
    expect(keyFile.privateKey).toMatch(/^[0-9a-f]{64}$/);
    expect((await stat(file("a.json"))).mode & 0o777).toBe(0o600);
    // A key file is never overwritten.
    const again = await fedproof("attester", "keygen", "--out", file("a.json"), "--json");
    expect(again.code).toBe(1);
    expect(JSON.parse(again.stdout).error.message).toMatch(/exists/);

    const set = await fedproof(
      "attester",
      "set",
      "--keys",
      ["a", "b", "c"].map((n) => file(`${n}.json`)).join(","),
      "--depth",
      "2",
      "--out",
      file("set.json"),
      "--json",
    );
    expect(set.code).toBe(0);
    const printed = JSON.parse(set.stdout) as { root: string; depth: number; keys: unknown[] };
    expect(printed).toMatchObject({ depth: 2 });
    expect(printed.keys).toHaveLength(3);
    const attesters = attesterSetFromJson(JSON.parse(await readFile(file("set.json"), "utf8")));
    expect(attesters.root.toString()).toBe(printed.root);

    const sign = await fedproof(
      "attester",
      "sign",
      "--key",
      file("b.json"),
      "--dataset",
      file("data.csv"),
      "--min",
      "0",
      "--max",
      "10",
      "--depth",
      "4",
      "--out",
      file("attestation.json"),
      "--json",
    );
    expect(sign.code).toBe(0);
    const signed = JSON.parse(sign.stdout);
    expect(signed).toMatchObject({ sampleCount: 6, depth: 4, features: 4, featureBits: 8 });
    expect(JSON.parse(await readFile(file("attestation.json"), "utf8"))).toEqual(signed);

    // The device encodes the same records the same way and commits: the attestation fits.
    const { attestation, sampleCount } = datasetAttestationFromJson(signed);
    expect(sampleCount).toBe(6);
    const data = await loadCsvDataset(file("data.csv"));
    const committed = commitDataset({
      parameters: {
        depth: 4,
        features: 4,
        samples: 2,
        featureBits: 8,
        labelBits: 8,
        attesterDepth: 2,
      },
      records: encodeDataset(data, signed.encoding),
      privateKey: new Uint8Array(32).fill(3),
      attestation,
    });
    expect(committed.commitment.toString()).toBe(signed.datasetCommitment);
    // The signer is the set's second key.
    const membership = attesterMembership(attesters, attestation.publicKey);
    expect(membership.index).toBe(1);
    expect(attesterRootOf(attestation.publicKey, membership)).toBe(attesters.root);
  });

  it("says what is missing when sign has no records", async () => {
    await fedproof("attester", "keygen", "--out", file("d.json"));
    const run = await fedproof("attester", "sign", "--key", file("d.json"), "--json");
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout).error.message).toMatch(/--dataset FILE.csv, or --simulate/);
  });
});
