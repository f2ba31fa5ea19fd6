import { createReadStream, type ReadStream } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { connect, createServer, type Socket, type Server as TcpServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createStreamWrite, StreamClosedError } from "./stream-write.js";

// Raw bytes over a hand-made service: the helper must work on any grpc-js call, not one proto.
const bytes = (value: Buffer) => value;
const method = { requestSerialize: bytes, requestDeserialize: bytes };
const service = {
  download: {
    ...method,
    path: "/fedproof.test.StreamWrite/Download",
    requestStream: false,
    responseStream: true,
    responseSerialize: bytes,
    responseDeserialize: bytes,
  },
  upload: {
    ...method,
    path: "/fedproof.test.StreamWrite/Upload",
    requestStream: true,
    responseStream: false,
    responseSerialize: bytes,
    responseDeserialize: bytes,
  },
} satisfies grpc.ServiceDefinition;

const CHUNK = 256 * 1024;
const FILE_CHUNKS = 64;

interface Download {
  call: grpc.ServerWritableStream<Buffer, Buffer>;
  file: ReadStream;
  written: number;
  /** What the handler ended with: "ended" after the whole file, else the error it stopped on. */
  done: Promise<unknown>;
}

/** Fails the test with a clear message instead of hanging until vitest's timeout. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([
    promise,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms).unref(),
    ),
  ]);
}

/**
 * A TCP relay between client and server that can stop carrying bytes one way: a peer that
 * stops reading, as a stalled phone does. (Node's HTTP/2 client acknowledges flow-control
 * windows as bytes arrive, so a client that merely never reads its stream applies no
 * back-pressure on localhost.)
 */
async function createRelay(port: number): Promise<{
  address: string;
  stallToClient(): void;
  stallToServer(): void;
  close(): void;
}> {
  const pairs: { client: Socket; server: Socket }[] = [];
  const relay: TcpServer = createServer((client) => {
    const server = connect(port, "127.0.0.1");
    client.pipe(server);
    server.pipe(client);
    pairs.push({ client, server });
  });
  await new Promise<void>((resolve) => relay.listen(0, "127.0.0.1", resolve));
  const stall = (from: Socket, to: Socket) => {
    from.unpipe(to);
    from.pause();
  };
  return {
    address: `127.0.0.1:${(relay.address() as { port: number }).port}`,
    stallToClient: () => {
      for (const { client, server } of pairs) stall(server, client);
    },
    stallToServer: () => {
      for (const { client, server } of pairs) stall(client, server);
    },
    close: () => {
      for (const { client, server } of pairs) {
        client.destroy();
        server.destroy();
      }
      relay.close();
    },
  };
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe("createStreamWrite", () => {
  let directory: string;
  let path: string;
  let server: grpc.Server;
  let port: number;
  const cleanups: (() => void)[] = [];
  const downloads: Download[] = [];
  const uploads: grpc.sendUnaryData<Buffer>[] = [];

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), "fedproof-stream-write-"));
    path = join(directory, "model.bin");
    await writeFile(path, Buffer.alloc(CHUNK * FILE_CHUNKS, 7));

    server = new grpc.Server();
    server.addService(service, {
      // As the model and artifact handlers do: read a file in chunks, write each with back-pressure.
      download(call: grpc.ServerWritableStream<Buffer, Buffer>) {
        const file = createReadStream(path, { highWaterMark: CHUNK });
        const download: Download = { call, file, written: 0, done: Promise.resolve() };
        const write = createStreamWrite(call);
        download.done = (async () => {
          try {
            for await (const chunk of file) {
              await write(chunk as Buffer);
              download.written++;
            }
            call.end();
            return "ended";
          } catch (error) {
            return error;
          }
        })();
        downloads.push(download);
      },
      // Never reads: the client's upload fills the window and blocks until the answer comes.
      upload(
        _call: grpc.ServerReadableStream<Buffer, Buffer>,
        callback: grpc.sendUnaryData<Buffer>,
      ) {
        uploads.push(callback);
      },
    });
    port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, bound) =>
        error ? reject(error) : resolve(bound),
      ),
    );
  });

  /** A client connected through its own relay, ready before the test stalls anything. */
  async function connectClient() {
    const relay = await createRelay(port);
    const Client = grpc.makeGenericClientConstructor(service, "StreamWrite");
    const client = new Client(relay.address, grpc.credentials.createInsecure()) as grpc.Client &
      Record<string, (...args: unknown[]) => unknown>;
    cleanups.push(() => client.close(), relay.close);
    await new Promise<void>((resolve, reject) =>
      client.waitForReady(Date.now() + 5000, (error) => (error ? reject(error) : resolve())),
    );
    return { client, relay };
  }

  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) cleanup();
    server?.forceShutdown();
    await rm(directory, { recursive: true, force: true });
  });

  it("settles a server write blocked on back-pressure when the client cancels, and the handler closes its file", async () => {
    const { client, relay } = await connectClient();
    relay.stallToClient();
    const call = client.download(Buffer.alloc(0)) as grpc.ClientReadableStream<Buffer>;
    const clientError = new Promise<grpc.ServiceError>((resolve) => call.on("error", resolve));
    await until(() => downloads.length === 1, "the server handler started");
    const download = downloads[0]!;
    await until(() => download.call.writableNeedDrain, "the server write waits for drain");
    let settled = false;
    void download.done.then(() => {
      settled = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(settled, "the write should still be waiting for the client").toBe(false);

    call.cancel();

    const outcome = await within(download.done, 5000, "the server handler");
    expect(outcome).toBeInstanceOf(StreamClosedError);
    expect((outcome as StreamClosedError).shortMessage).toBe("the peer cancelled the call");
    expect(download.written).toBeLessThan(FILE_CHUNKS);
    await until(() => download.file.destroyed, "the handler's file is closed");
    expect((await clientError).code).toBe(grpc.status.CANCELLED);

    // A later write on the same call fails at once instead of waiting for a drain that never comes.
    await expect(
      within(createStreamWrite(download.call)(Buffer.alloc(1)), 1000, "a write after cancel"),
    ).rejects.toBeInstanceOf(StreamClosedError);
  });

  it("settles a client upload write blocked on back-pressure when the server answers early", async () => {
    const { client, relay } = await connectClient();
    let answer: grpc.ServiceError | null | undefined;
    const call = client.upload((error: grpc.ServiceError | null) => {
      answer = error;
    }) as grpc.ClientWritableStream<Buffer>;
    const write = createStreamWrite(call);
    const chunk = Buffer.alloc(CHUNK, 1);
    const uploaded = (async () => {
      try {
        for (let sent = 0; sent < 10_000; sent++) await write(chunk);
        return "all written";
      } catch (error) {
        return error;
      }
    })();
    await until(() => uploads.length === 1, "the server handler started");
    relay.stallToServer();
    await until(() => call.writableNeedDrain, "the client write waits for drain");
    let settled = false;
    void uploaded.then(() => {
      settled = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(settled, "the write should still be waiting for the server").toBe(false);

    uploads[0]!({ code: grpc.status.FAILED_PRECONDITION, details: "round closed" });

    const outcome = await within(uploaded, 5000, "the client upload");
    expect(outcome).toBeInstanceOf(StreamClosedError);
    expect((outcome as StreamClosedError).details).toBe(
      `status ${grpc.status.FAILED_PRECONDITION}: round closed`,
    );
    expect(answer?.code).toBe(grpc.status.FAILED_PRECONDITION);
  });
});
