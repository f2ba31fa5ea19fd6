import { randomPrivateKey } from "../../../protocol/proving/eddsa-poseidon.js";

/**
 * An upload the coordinator has begun but not committed: enough to finish it after a reload
 * (GetUpload says how far it got), within the session that began it.
 */
export interface PendingUpload {
  round: number;
  uploadId: string;
  sessionToken: string;
  bytes: Uint8Array;
}

/** What a browser device keeps across reloads: its key, and per job its id and data seed. */
export interface WebIdentity {
  privateKey: Uint8Array;
  /** Per job: the device id the key is enrolled under, the seed of its local data, its upload. */
  jobs: Record<string, { deviceId: string; seed: number; upload?: PendingUpload }>;
}

const DB = "fedproof-device";
const STORE = "identity";
const KEY = "default";

function openDb(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

function transact<T>(
  mode: IDBTransactionMode,
  work: (store: IDBObjectStore) => IDBRequest,
): Promise<T> {
  return openDb().then(
    (db) =>
      new Promise<T>((resolve, reject) => {
        const request = work(db.transaction(STORE, mode).objectStore(STORE));
        request.onsuccess = () => resolve(request.result as T);
        request.onerror = () => reject(request.error);
      }),
  );
}

/**
 * The device's Baby Jubjub key lives in IndexedDB: a reload re-joins with the same key, so
 * the coordinator sees the same device (the first Join bound the id to this key).
 */
export async function loadIdentity(): Promise<WebIdentity> {
  const stored = await transact<WebIdentity | undefined>("readonly", (s) => s.get(KEY));
  if (stored) return stored;
  const identity: WebIdentity = { privateKey: randomPrivateKey(), jobs: {} };
  await saveIdentity(identity);
  return identity;
}

export function saveIdentity(identity: WebIdentity): Promise<void> {
  return transact<void>("readwrite", (s) => s.put(identity, KEY)).then(() => undefined);
}

/** The upload of `jobId` a previous page load left unfinished, if any. */
export async function pendingUpload(jobId: string): Promise<PendingUpload | undefined> {
  const stored = await transact<WebIdentity | undefined>("readonly", (s) => s.get(KEY));
  return stored?.jobs[jobId]?.upload;
}
