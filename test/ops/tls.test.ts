import { randomBytes } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { channelCredentials, createFedproofClients, unary } from "../../proto/clients.js";
import type { ListJobsResponse__Output } from "../../proto/generated/fedproof/v1/ListJobsResponse.js";
import {
  type CoordinatorProcess,
  runCli,
  startCoordinatorProcess,
} from "../harness/cli-process.js";
import { startTestCoordinator, type TestCoordinator } from "../harness/coordinator.js";
import { type SelfSignedCertificate, selfSignedCertificate } from "./ops-fixtures.js";

describe("gRPC over TLS", () => {
  const token = randomBytes(16).toString("hex");
  let certificate: SelfSignedCertificate;
  let coordinator: CoordinatorProcess;

  beforeAll(async () => {
    certificate = await selfSignedCertificate();
    coordinator = await startCoordinatorProcess("tls", {
      token,
      extraArgs: ["--tls-cert", certificate.certFile, "--tls-key", certificate.keyFile],
    });
  });
  afterAll(async () => {
    await coordinator?.dispose();
    await certificate?.remove();
  });

  it("creates a job and shows its status with --tls-ca", async () => {
    const tls = ["--coordinator", coordinator.address, "--tls-ca", certificate.certFile];
    const created = await runCli(
      ["job", "create", ...tls, "--schema", "synthetic", "--model", "logreg", "--json"],
      { FEDPROOF_TOKEN: token },
    );
    expect(created.code, created.stderr).toBe(0);
    const { jobId } = JSON.parse(created.stdout) as { jobId: string };
    const status = await runCli(["job", "status", jobId, ...tls, "--json"]);
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ jobId, state: "JOB_STATE_WAITING" });
  });

  it("fails a plaintext client, and one that does not trust the certificate, saying why", async () => {
    const plaintext = await runCli(["job", "list", "--coordinator", coordinator.address]);
    expect(plaintext.code).toBe(1);
    expect(plaintext.stderr).toMatch(/gRPC status 14/);
    expect(plaintext.stderr).toMatch(/both sides agree on TLS.*--tls-ca FILE/);

    // --tls alone trusts only the system's roots, which never signed this certificate.
    const untrusted = await runCli(["job", "list", "--coordinator", coordinator.address, "--tls"]);
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr).toMatch(/self-signed certificate/);
  });
});

describe("mutual TLS (--tls-client-ca)", () => {
  let server: SelfSignedCertificate;
  let client: SelfSignedCertificate;
  let coordinator: TestCoordinator;

  beforeAll(async () => {
    [server, client] = await Promise.all([
      selfSignedCertificate(),
      selfSignedCertificate("device"),
    ]);
    // The client's self-signed certificate is its own CA.
    coordinator = await startTestCoordinator("mtls", {
      tls: { cert: server.cert, key: server.key, clientCa: client.cert },
    });
  });
  afterAll(async () => {
    await coordinator?.dispose();
    await Promise.all([server?.remove(), client?.remove()]);
  });

  const listJobs = async (credentials: grpc.ChannelCredentials) => {
    const clients = createFedproofClients(coordinator.address, credentials);
    try {
      return await unary<ListJobsResponse__Output>((cb) =>
        clients.jobs.listJobs({ limit: 1 }, { deadline: Date.now() + 10_000 }, cb),
      );
    } finally {
      clients.close();
    }
  };

  it("answers a client with a certificate the CA signed, and refuses one without", async () => {
    await expect(
      listJobs(channelCredentials({ ca: server.cert, cert: client.cert, key: client.key })),
    ).resolves.toMatchObject({ jobs: [] });
    await expect(listJobs(channelCredentials({ ca: server.cert }))).rejects.toMatchObject({
      code: grpc.status.UNAVAILABLE,
    });
  });
});
