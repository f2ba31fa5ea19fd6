import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, open, readFile, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import { ArtifactCorruptError, InvalidArgumentError, NotFoundError } from "../errors.js";

const HASH_PATTERN = /^[0-9a-f]{64}$/;

export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

export interface ArtifactStoreParameters {
  /** Root directory; blobs live at root/ab/cdef… by their sha256. */
  root: string;
}

export interface PutReturnType {
  hash: string;
  size: number;
}

/**
 * Content-addressed blob store on disk. A blob's name is the sha256 of its bytes, so
 * storing the same model twice is a no-op and a reader can always re-check what it got.
 * Writes go to a temporary file first and are renamed into place, so a crash never leaves
 * a half-written blob under a valid name.
 */
export class ArtifactStore {
  readonly root: string;

  constructor(parameters: ArtifactStoreParameters) {
    this.root = parameters.root;
  }

  pathOf(hash: string): string {
    if (!HASH_PATTERN.test(hash)) {
      throw new InvalidArgumentError(`not a sha256 hex digest: "${hash}"`);
    }
    return path.join(this.root, hash.slice(0, 2), hash.slice(2));
  }

  async put(bytes: Uint8Array): Promise<PutReturnType> {
    const hash = sha256Hex(bytes);
    const target = this.pathOf(hash);
    if (await exists(target)) return { hash, size: bytes.byteLength };
    await mkdir(path.dirname(target), { recursive: true });
    const temporary = `${target}.${randomBytes(6).toString("hex")}.tmp`;
    const handle = await open(temporary, "w");
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, target);
    return { hash, size: bytes.byteLength };
  }

  /** Stores chunks as they arrive, hashing on the way; the name is known only at the end. */
  async putChunks(chunks: AsyncIterable<Uint8Array>): Promise<PutReturnType> {
    await mkdir(this.root, { recursive: true });
    const temporary = path.join(this.root, `incoming-${randomBytes(8).toString("hex")}.tmp`);
    const hasher = createHash("sha256");
    let size = 0;
    const handle = await open(temporary, "w");
    try {
      for await (const chunk of chunks) {
        hasher.update(chunk);
        size += chunk.byteLength;
        await handle.write(chunk);
      }
      await handle.sync();
    } catch (error) {
      await handle.close();
      await rm(temporary, { force: true });
      throw error;
    }
    await handle.close();
    const hash = hasher.digest("hex");
    const target = this.pathOf(hash);
    await mkdir(path.dirname(target), { recursive: true });
    await rename(temporary, target);
    return { hash, size };
  }

  async has(hash: string): Promise<boolean> {
    return exists(this.pathOf(hash));
  }

  /** Reads a blob and checks that its bytes still hash to its name. */
  async get(hash: string): Promise<Uint8Array> {
    let bytes: Buffer;
    try {
      bytes = await readFile(this.pathOf(hash));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") {
        throw new NotFoundError(`artifact ${hash} not found`, { cause: error });
      }
      throw error;
    }
    const actual = sha256Hex(bytes);
    if (actual !== hash) {
      throw new ArtifactCorruptError(`artifact ${hash} is corrupt: its bytes hash to ${actual}`);
    }
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  async size(hash: string): Promise<number> {
    try {
      return (await stat(this.pathOf(hash))).size;
    } catch (error) {
      throw new NotFoundError(`artifact ${hash} not found`, { cause: error });
    }
  }

  /** Streams a blob in chunks of at most `chunkBytes`, for models too big for one message. */
  async *readChunks(hash: string, chunkBytes: number): AsyncGenerator<Uint8Array> {
    const size = await this.size(hash);
    // The read buffer is allocated at its full size for every stream: a small blob gets one
    // of its own size, not a CHUNK_BYTES one.
    const highWaterMark = Math.max(1, Math.min(chunkBytes, size));
    const stream = createReadStream(this.pathOf(hash), { highWaterMark });
    for await (const chunk of stream) yield chunk as Buffer;
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}
