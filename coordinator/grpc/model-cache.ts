import type { ModelHeader } from "../../proto/generated/fedproof/v1/ModelHeader.js";
import { CHUNK_BYTES } from "../../proto/load.js";
import type { ArtifactStore } from "../store/artifact-store.js";

export interface ModelCacheParameters {
  artifacts: ArtifactStore;
  /** Most bytes of model held at once; a larger model is streamed from disk (default 64 MiB). */
  maxBytes?: number;
}

/** A model as GetModel sends it: the header, then the data chunks. */
export interface CachedModel {
  header: ModelHeader;
  chunks: Uint8Array[];
}

const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;

/**
 * The global models GetModel served last, in memory, least recently used dropped first. When a
 * round starts, every selected device downloads its model at once: without this, each download
 * opened, stat'ed and read the same file (with a CHUNK_BYTES buffer apiece, a gigabyte of
 * garbage per round at 1,000 devices). Blobs are named by their hash and never change, so an
 * entry never goes stale; the bytes are hash-checked once, when read.
 */
export class ModelCache {
  private readonly artifacts: ArtifactStore;
  private readonly maxBytes: number;
  /** Insertion order is recency order: a hit moves its entry to the end. */
  private readonly entries = new Map<string, Promise<CachedModel | undefined>>();
  private readonly sizes = new Map<string, number>();
  private bytes = 0;

  constructor(parameters: ModelCacheParameters) {
    this.artifacts = parameters.artifacts;
    this.maxBytes = parameters.maxBytes ?? DEFAULT_MAX_BYTES;
  }

  /**
   * The model `modelHash` of job `jobId` (the header names the job's manifest), loaded on first
   * use; undefined when it is too large to keep. Concurrent first calls share one read.
   */
  get(
    jobId: string,
    modelHash: string,
    header: () => Promise<ModelHeader>,
  ): Promise<CachedModel | undefined> {
    const key = `${jobId}/${modelHash}`;
    const found = this.entries.get(key);
    if (found) {
      this.entries.delete(key);
      this.entries.set(key, found);
      return found;
    }
    const loading = this.load(modelHash, header).then(
      (model) => {
        if (this.entries.get(key) !== loading) return model;
        if (!model) {
          this.entries.delete(key);
          return undefined;
        }
        const size = Number(model.header.sizeBytes);
        this.sizes.set(key, size);
        this.bytes += size;
        this.evict();
        return model;
      },
      (error: unknown) => {
        if (this.entries.get(key) === loading) this.entries.delete(key);
        throw error;
      },
    );
    this.entries.set(key, loading);
    return loading;
  }

  private async load(
    modelHash: string,
    header: () => Promise<ModelHeader>,
  ): Promise<CachedModel | undefined> {
    const first = await header();
    if (Number(first.sizeBytes) > this.maxBytes) return undefined;
    const bytes = await this.artifacts.get(modelHash);
    const chunks: Uint8Array[] = [];
    for (let offset = 0; offset < bytes.byteLength; offset += CHUNK_BYTES) {
      chunks.push(bytes.subarray(offset, offset + CHUNK_BYTES));
    }
    return { header: { ...first, sizeBytes: String(bytes.byteLength) }, chunks };
  }

  private evict(): void {
    for (const key of this.entries.keys()) {
      if (this.bytes <= this.maxBytes) return;
      const size = this.sizes.get(key);
      // Still loading: counted once it is in.
      if (size === undefined) continue;
      this.entries.delete(key);
      this.sizes.delete(key);
      this.bytes -= size;
    }
  }
}
