/**
 * What the operations tests need beyond the shared harness: a private redis-server (with or
 * without the append-only file, with or without a password), a self-signed certificate, a
 * health client and a Prometheus scrape.
 */
import { execFile, spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { protoPath as healthProtoPath } from "grpc-health-check";
import { Redis } from "ioredis";
import { freePort } from "../../cli/demo/private-redis.js";
import { CHANNEL_OPTIONS } from "../../proto/load.js";

export interface TestRedis {
  url: string;
  stop(): Promise<void>;
}

/** redis-server on a free loopback port, in a directory of its own, removed on stop. */
export async function startTestRedis(options: {
  appendOnly: boolean;
  password?: string;
}): Promise<TestRedis> {
  const port = await freePort();
  const dir = await mkdtemp(path.join(os.tmpdir(), "fedproof-ops-redis-"));
  const args = ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", ""];
  args.push("--appendonly", options.appendOnly ? "yes" : "no", "--logfile", "");
  if (options.password) args.push("--requirepass", options.password);
  const child = spawn("redis-server", args, { stdio: "ignore" });
  const auth = options.password ? `:${encodeURIComponent(options.password)}@` : "";
  const url = `redis://${auth}127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 10_000;
  for (;;) {
    const probe = new Redis(url, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    probe.on("error", () => {});
    try {
      await probe.connect();
      await probe.ping();
      probe.disconnect();
      return { url, stop };
    } catch (error) {
      probe.disconnect();
      if (child.exitCode !== null || Date.now() > deadline) {
        await stop();
        throw new Error(`redis-server on port ${port} did not start: ${String(error)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

export interface SelfSignedCertificate {
  dir: string;
  certFile: string;
  keyFile: string;
  cert: Buffer;
  key: Buffer;
  remove(): Promise<void>;
}

/** A P-256 certificate for 127.0.0.1 and localhost, made with openssl for this test only. */
export async function selfSignedCertificate(name = "localhost"): Promise<SelfSignedCertificate> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "fedproof-ops-tls-"));
  const certFile = path.join(dir, `${name}.pem`);
  const keyFile = path.join(dir, `${name}-key.pem`);
  await promisify(execFile)("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-days",
    "1",
    "-subj",
    `/CN=${name}`,
    "-addext",
    "subjectAltName=IP:127.0.0.1,DNS:localhost",
    "-keyout",
    keyFile,
    "-out",
    certFile,
  ]);
  return {
    dir,
    certFile,
    keyFile,
    cert: await readFile(certFile),
    key: await readFile(keyFile),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

export interface HealthClient extends grpc.Client {
  check(
    request: { service: string },
    callback: (error: grpc.ServiceError | null, response?: { status: string }) => void,
  ): grpc.ClientUnaryCall;
  watch(request: { service: string }): grpc.ClientReadableStream<{ status: string }>;
}

/** A client of the standard grpc.health.v1.Health service, from the package's own proto. */
export function createHealthClient(
  address: string,
  credentials = grpc.credentials.createInsecure(),
): HealthClient {
  const definition = protoLoader.loadSync(healthProtoPath, { keepCase: true, enums: String });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    grpc: {
      health: {
        v1: {
          Health: new (
            address: string,
            credentials: grpc.ChannelCredentials,
            options: grpc.ChannelOptions,
          ) => HealthClient;
        };
      };
    };
  };
  return new loaded.grpc.health.v1.Health(address, credentials, CHANNEL_OPTIONS);
}

export function checkHealth(client: HealthClient, service: string): Promise<string> {
  return new Promise((resolve, reject) =>
    client.check({ service }, (error, response) =>
      error ? reject(error) : resolve(response!.status),
    ),
  );
}

/** One Prometheus scrape, as `name{labels}` → value. */
export async function scrape(url: string): Promise<Map<string, number>> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`GET ${url}: ${response.status}`);
  const samples = new Map<string, number>();
  for (const line of (await response.text()).split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    samples.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return samples;
}
