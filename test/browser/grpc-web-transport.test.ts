import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PROTO_FILES, PROTO_ROOT } from "../../proto/load.js";
import { randomPrivateKey } from "../../protocol/proving/eddsa-poseidon.js";
import { COORDINATOR, JOBS, joinOverWeb } from "../../web/src/rpc/coordinator-api.js";
import { GrpcWebClient, GrpcWebError } from "../../web/src/rpc/grpc-web-client.js";
import { createProtoRoot } from "../../web/src/rpc/proto-root.js";
import { uploadUpdate } from "../../web/src/rpc/upload.js";
import { startTestCoordinator, type TestCoordinator } from "../harness/coordinator.js";

const schema = { featureShape: [16], min: 0, max: 1, classes: 4 };
const root = createProtoRoot(
  ["fedproof/v1/types.proto", ...PROTO_FILES.filter((file) => !file.endsWith("types.proto"))].map(
    (file) => readFileSync(path.join(PROTO_ROOT, file), "utf8"),
  ),
);

interface TaskEvent {
  task?: { round: number; globalModelHash: string; paramCount: string } | null;
  result?: { round: number; accepted: boolean; reason: string } | null;
  kind?: string;
}

describe("gRPC-web on the coordinator's HTTP port, against the native handlers", () => {
  let coordinator: TestCoordinator;
  let base: string;

  beforeAll(async () => {
    coordinator = await startTestCoordinator("grpc-web", { web: { app: false } });
    base = coordinator.webUrl!.replace(/\/$/, "");
  });
  afterAll(async () => {
    await coordinator?.dispose();
  });

  it("answers a unary call, and maps a project error to its status and trailer", async () => {
    const client = new GrpcWebClient({ baseUrl: base, root });
    const job = await coordinator.jobs.createJob({ model: "logreg", schema });
    const listed = await client.unary<{ jobs: { jobId: string; state: string }[] }>(
      JOBS,
      "ListJobs",
      {},
    );
    expect(listed.jobs.map((j) => j.jobId)).toContain(job.jobId);

    const missing = client.unary(JOBS, "GetJob", { jobId: "no-such-job" });
    await expect(missing).rejects.toMatchObject({ code: 5, fedproofError: "NotFoundError" });

    // Writes need the bearer token, over this transport as over the native one.
    const refused = client.unary(JOBS, "CancelJob", { jobId: job.jobId });
    await expect(refused).rejects.toMatchObject({ code: 16 });
    const cancelled = await client.unary<{ state: string }>(
      JOBS,
      "CancelJob",
      { jobId: job.jobId, reason: "test" },
      { metadata: { authorization: "Bearer test-token" } },
    );
    expect(cancelled.state).toBe("JOB_STATE_CANCELLED");
  });

  it("refuses a page from another origin, and answers its own origin's preflight", async () => {
    const foreign = await fetch(`${base}/fedproof.v1.Jobs/ListJobs`, {
      method: "OPTIONS",
      headers: { origin: "http://evil.example", "access-control-request-method": "POST" },
    });
    expect(foreign.status).toBe(403);
    expect(foreign.headers.get("access-control-allow-origin")).toBeNull();
    const own = await fetch(`${base}/fedproof.v1.Jobs/ListJobs`, {
      method: "OPTIONS",
      headers: { origin: base, "access-control-request-method": "POST" },
    });
    expect(own.status).toBe(204);
    expect(own.headers.get("access-control-allow-origin")).toBe(base);
  });

  it("streams tasks, takes an upload that is interrupted and resumed, and judges it", async () => {
    const job = await coordinator.jobs.createJob({
      model: "logreg",
      schema,
      rounds: 1,
      clientsPerRound: 1,
      minClients: 1,
      overSelection: 1,
      roundDeadlineSeconds: 60,
    });
    const client = new GrpcWebClient({ baseUrl: base, root });
    const session = await joinOverWeb(client, {
      jobId: job.jobId,
      deviceId: "web-transport-device",
      privateKey: randomPrivateKey(),
      samples: 100,
      platform: "node fetch",
      backend: "none",
    });
    expect(session.sessionToken).toMatch(/.{20,}/);

    const abort = new AbortController();
    const events = client.stream<TaskEvent>(
      COORDINATOR,
      "Tasks",
      { sessionToken: session.sessionToken },
      { signal: abort.signal },
    );
    const first = await events.next();
    const task = (first.value as TaskEvent).task!;
    expect(task.round).toBe(1);

    // A server stream over gRPC-web: the model arrives as a header then chunks.
    const chunks = [];
    for await (const chunk of client.stream<{ header?: unknown; data?: Uint8Array }>(
      COORDINATOR,
      "GetModel",
      { modelHash: task.globalModelHash },
    )) {
      chunks.push(chunk);
    }
    expect(chunks[0]!.header).toBeTruthy();
    expect(chunks.slice(1).reduce((n, c) => n + c.data!.byteLength, 0)).toBe(job.paramCount * 4);

    const bytes = new Uint8Array(job.paramCount * 2);
    const header = {
      sessionToken: session.sessionToken,
      jobId: job.jobId,
      round: 1,
      globalModelHash: task.globalModelHash,
      samples: 100,
      paramCount: String(job.paramCount),
      bits: 16,
    };
    // The connection drops twice: once before a chunk reaches the coordinator, once after it
    // was stored but before its answer arrived. Only those chunks are sent again.
    let puts = 0;
    const sent: number[] = [];
    const flaky: typeof fetch = async (input, init) => {
      if (String(input).endsWith("/PutUploadChunk")) {
        puts++;
        if (puts === 2) throw new TypeError("network error (dropped before sending)");
        const answer = await fetch(input, init);
        if (puts === 3) {
          await answer.arrayBuffer();
          throw new TypeError("network error (answer lost)");
        }
        return answer;
      }
      return fetch(input, init);
    };
    const progress: number[] = [];
    const answer = await uploadUpdate({
      client: new GrpcWebClient({ baseUrl: base, root, fetch: flaky }),
      header,
      bytes,
      chunkBytes: 64,
      onProgress: ({ offset }) => {
        progress.push(offset);
        sent.push(puts);
      },
    });
    expect(answer.status).toBe("queued");
    expect(answer.contributionId).toBe(`${job.jobId}-1-web-transport-device`);
    expect(progress.at(-1)).toBe(bytes.byteLength);
    // Offsets never went backwards: resuming asked the coordinator where it stood.
    expect([...progress].sort((a, b) => a - b)).toEqual(progress);

    // The same path and checks as SubmitUpdate: a second update for the round is refused
    // (already submitted, or the round closed once the first one verified).
    const again = uploadUpdate({ client, header, bytes });
    await expect(again).rejects.toMatchObject({
      fedproofError: expect.stringMatching(/^(AlreadyExistsError|RoundClosedError)$/),
    });

    // The verify worker judged it, and the device hears so on its task stream.
    let result: TaskEvent["result"];
    for (let next = await events.next(); !next.done; next = await events.next()) {
      if ((next.value as TaskEvent).result) {
        result = (next.value as TaskEvent).result;
        break;
      }
    }
    expect(result).toMatchObject({ round: 1, accepted: true });
    abort.abort();
    await events.return(undefined).catch(() => {});
    const round = await coordinator.store.getRound(job.jobId, 1);
    expect(round.accepted).toBe(1);
  });

  it("resumes an upload from another page load, and refuses gaps and other sessions", async () => {
    const job = await coordinator.jobs.createJob({
      model: "logreg",
      schema,
      clientsPerRound: 1,
      minClients: 1,
      overSelection: 1,
    });
    const client = new GrpcWebClient({ baseUrl: base, root });
    const session = await joinOverWeb(client, {
      jobId: job.jobId,
      deviceId: "web-reload-device",
      privateKey: randomPrivateKey(),
      samples: 100,
      platform: "node fetch",
      backend: "none",
    });
    const abort = new AbortController();
    const events = client.stream<TaskEvent>(
      COORDINATOR,
      "Tasks",
      { sessionToken: session.sessionToken },
      { signal: abort.signal },
    );
    const task = ((await events.next()).value as TaskEvent).task!;
    const bytes = new Uint8Array(job.paramCount * 2).map((_, i) => i % 7);
    const header = {
      sessionToken: session.sessionToken,
      jobId: job.jobId,
      round: task.round,
      globalModelHash: task.globalModelHash,
      samples: 100,
      paramCount: String(job.paramCount),
      bits: 16,
    };
    const begun = await client.unary<{ uploadId: string; offset: string; sizeBytes: string }>(
      COORDINATOR,
      "BeginUpload",
      { header },
    );
    expect(begun).toMatchObject({ offset: "0", sizeBytes: String(bytes.byteLength) });
    const put = (offset: number, end: number, sessionToken = session.sessionToken) =>
      client.unary<{ offset: string }>(COORDINATOR, "PutUploadChunk", {
        sessionToken,
        uploadId: begun.uploadId,
        offset: String(offset),
        data: bytes.subarray(offset, end),
      });
    expect((await put(0, 40)).offset).toBe("40");
    // A chunk that would leave a hole is refused with the offset to resume from.
    await expect(put(50, 60)).rejects.toMatchObject({ fedproofError: "UploadOffsetError" });
    // Committing early is refused too.
    const early = client.unary(COORDINATOR, "CommitUpload", {
      sessionToken: session.sessionToken,
      uploadId: begun.uploadId,
    });
    await expect(early).rejects.toMatchObject({ code: 9, details: expect.stringMatching(/40 of/) });
    await expect(put(40, 50, "not-a-session")).rejects.toMatchObject({ code: 16 });

    // "After a reload": a fresh client continues the same upload id from where it stands.
    const answer = await uploadUpdate({
      client: new GrpcWebClient({ baseUrl: base, root }),
      header,
      bytes,
      uploadId: begun.uploadId,
    });
    expect(answer.status).toBe("queued");
    const stored = await coordinator.artifacts.get(answer.updateHash);
    expect(Buffer.from(stored).equals(Buffer.from(bytes))).toBe(true);
    // Committed uploads are gone.
    const gone = client.unary(COORDINATOR, "GetUpload", {
      sessionToken: session.sessionToken,
      uploadId: begun.uploadId,
    });
    await expect(gone).rejects.toBeInstanceOf(GrpcWebError);
    abort.abort();
    await events.return(undefined).catch(() => {});
  });
});
