import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Metadata, status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readModelStream } from "../client/node/coordinator-client.js";
import { specToMessage } from "../coordinator/jobs/job-messages.js";
import { sha256Hex } from "../coordinator/store/artifact-store.js";
import { bearer, createFedproofClients, type FedproofClients, unary } from "../proto/clients.js";
import type { JobInfo__Output } from "../proto/generated/fedproof/v1/JobInfo.js";
import { startTestCoordinator, type TestCoordinator } from "./harness/coordinator.js";

const BIN = fileURLToPath(new URL("../bin/fedproof.js", import.meta.url));
const spec = {
  model: "logreg" as const,
  schema: { featureShape: [16], min: 0, max: 1, classes: 4 },
  rounds: 2,
};

describe("the Jobs API over gRPC", () => {
  let coordinator: TestCoordinator;
  let clients: FedproofClients;
  beforeAll(async () => {
    coordinator = await startTestCoordinator("jobs-api");
    clients = createFedproofClients(coordinator.address);
  });
  afterAll(async () => {
    clients?.close();
    await coordinator?.dispose();
  });

  const create = (message: object, metadata: Metadata) =>
    unary<JobInfo__Output>((cb) => clients.jobs.createJob({ spec: message }, metadata, cb));

  it("refuses CreateJob without a bearer token with UNAUTHENTICATED", async () => {
    await expect(create(specToMessage(spec), new Metadata())).rejects.toMatchObject({
      code: status.UNAUTHENTICATED,
      details: expect.stringMatching(/missing bearer token/),
    });
    await expect(create(specToMessage(spec), bearer("wrong-token"))).rejects.toMatchObject({
      code: status.UNAUTHENTICATED,
    });
    expect(await coordinator.store.listJobIds(10)).toEqual([]);
  });

  it("answers an invalid JobSpec with INVALID_ARGUMENT naming the field", async () => {
    await expect(
      create(specToMessage({ ...spec, clientsPerRound: 2, minClients: 5 }), bearer("test-token")),
    ).rejects.toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: expect.stringMatching(/spec\.minClients/),
    });
    await expect(
      create({ ...specToMessage(spec), model: "resnet152" }, bearer("test-token")),
    ).rejects.toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: expect.stringMatching(/spec\.model/),
    });
    await expect(
      create({ ...specToMessage(spec), schema: null }, bearer("test-token")),
    ).rejects.toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: expect.stringMatching(/spec\.schema/),
    });
  });

  it("creates, lists and describes a job with the token, and serves its model hash-checked", async () => {
    const created = await create(specToMessage(spec), bearer("test-token"));
    expect(created.state).toBe("JOB_STATE_WAITING");
    expect(created.paramCount).toBe(String(16 * 4 + 4));
    const fetched = await unary<JobInfo__Output>((cb) =>
      clients.jobs.getJob({ jobId: created.jobId }, cb),
    );
    expect(fetched.initialModelHash).toBe(created.initialModelHash);
    const { header, bytes } = await readModelStream(
      clients.jobs.downloadModel({ jobId: created.jobId, round: 0 }),
    );
    expect(header.modelHash).toBe(created.initialModelHash);
    expect(sha256Hex(bytes)).toBe(created.initialModelHash);
    await expect(
      unary((cb) => clients.jobs.getJob({ jobId: "no-such-job" }, cb)),
    ).rejects.toMatchObject({ code: status.NOT_FOUND });
  });

  it("streams a 100 MB model in chunks below the message size limit", async () => {
    const created = await create(specToMessage(spec), bearer("test-token"));
    const big = randomBytes(100 * 1024 * 1024);
    const { hash } = await coordinator.artifacts.put(big);
    await coordinator.store.indexModel(hash, created.jobId);
    const { bytes } = await readModelStream(
      clients.coordinator.getModel({ modelHash: hash }),
      hash,
    );
    expect(bytes.byteLength).toBe(big.byteLength);
    expect(sha256Hex(bytes)).toBe(hash);
  });

  it("never serves a device's update blob as a model", async () => {
    const { hash } = await coordinator.artifacts.put(new Uint8Array([1, 2, 3]));
    await expect(
      readModelStream(clients.coordinator.getModel({ modelHash: hash })),
    ).rejects.toMatchObject({ code: status.NOT_FOUND });
  });

  it("fedproof job create exits non-zero and says why without a token", async () => {
    // Asynchronously: the coordinator answering the CLI runs in this very process.
    const args = [
      BIN,
      "job",
      "create",
      "--coordinator",
      coordinator.address,
      "--schema",
      "synthetic",
      "--model",
      "logreg",
      "--json",
    ];
    const refused = await run(args, { FEDPROOF_TOKEN: "" });
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stdout).error.message).toMatch(/missing bearer token/);
    const ok = await run([...args, "--rounds", "1", "--token", "test-token"], {});
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout).spec.rounds).toBe(1);
  });
});

async function run(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; stdout: string }> {
  try {
    const { stdout } = await promisify(execFile)(process.execPath, args, {
      env: { ...process.env, ...env },
    });
    return { code: 0, stdout };
  } catch (error) {
    const failed = error as { code: number; stdout: string };
    return { code: failed.code, stdout: failed.stdout };
  }
}
