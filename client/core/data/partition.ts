import { InvalidArgumentError } from "../../../common/errors.js";
import { createRng, type Rng } from "../../../protocol/random.js";

/**
 * How a data set is split among simulated devices. IID is the easy baseline; label skew
 * (Dirichlet, shards) is where federated strategies differ, so experiments need both.
 */
export type PartitionSpec =
  | { kind: "iid" }
  | { kind: "dirichlet"; alpha: number }
  | { kind: "shards"; shardsPerClient: number };

export interface PartitionIidParameters {
  labels: Int32Array;
  clients: number;
  seed: number;
}

/** A seeded shuffle cut into `clients` parts whose sizes differ by at most one. */
export function partitionIid(p: PartitionIidParameters): number[][] {
  checkClients(p.clients, p.labels.length, 1);
  const order = createRng(p.seed).shuffle(range(p.labels.length));
  const parts: number[][] = [];
  for (let c = 0; c < p.clients; c++) {
    const start = Math.floor((c * order.length) / p.clients);
    const end = Math.floor(((c + 1) * order.length) / p.clients);
    parts.push(order.slice(start, end).sort(ascending));
  }
  return parts;
}

export interface PartitionDirichletParameters {
  labels: Int32Array;
  classes: number;
  clients: number;
  /** Concentration: small (0.1) gives each client few classes, large (100) approaches IID. */
  alpha: number;
  seed: number;
  /** Redraw until every client holds at least this many records; default 1. */
  minPerClient?: number;
}

const MAX_DIRICHLET_ATTEMPTS = 1000;

/**
 * Label skew as in Hsu et al. (2019): for each class, draw the clients' shares from
 * Dirichlet(α) and hand out that class's records accordingly. Redraws (deterministically)
 * while some client ends up with fewer than `minPerClient` records.
 */
export function partitionDirichlet(p: PartitionDirichletParameters): number[][] {
  const minPerClient = p.minPerClient ?? 1;
  if (!Number.isInteger(minPerClient) || minPerClient < 0) {
    throw new InvalidArgumentError(
      `minPerClient must be a non-negative integer, got ${minPerClient}`,
    );
  }
  checkClients(p.clients, p.labels.length, minPerClient);
  checkAlpha(p.alpha);
  const byClass = indicesByClass(p.labels, p.classes);
  const rng = createRng(p.seed);

  for (let attempt = 0; attempt < MAX_DIRICHLET_ATTEMPTS; attempt++) {
    const parts: number[][] = Array.from({ length: p.clients }, () => []);
    for (const members of byClass) {
      const indices = rng.shuffle(members.slice());
      const shares = dirichlet(rng, p.alpha, p.clients);
      let cumulative = 0;
      let start = 0;
      for (let c = 0; c < p.clients; c++) {
        cumulative += shares[c];
        const end = c === p.clients - 1 ? indices.length : Math.round(cumulative * indices.length);
        for (let i = start; i < end; i++) parts[c].push(indices[i]);
        start = Math.max(start, end);
      }
    }
    if (parts.every((part) => part.length >= minPerClient)) {
      return parts.map((part) => part.sort(ascending));
    }
  }
  throw new InvalidArgumentError(
    `could not give each of ${p.clients} clients at least ${minPerClient} records with Dirichlet alpha=${p.alpha} in ${MAX_DIRICHLET_ATTEMPTS} draws`,
    { details: "use a larger alpha, fewer clients or a smaller minPerClient" },
  );
}

export interface PartitionShardsParameters {
  labels: Int32Array;
  clients: number;
  /** Default 2, as in McMahan et al. (2017): most clients then see only two classes. */
  shardsPerClient?: number;
  seed: number;
}

/**
 * Pathological non-IID split of McMahan et al.: sort by label, cut into
 * clients × shardsPerClient equal shards, give each client `shardsPerClient` random shards.
 */
export function partitionShards(p: PartitionShardsParameters): number[][] {
  const shardsPerClient = p.shardsPerClient ?? 2;
  if (!Number.isInteger(shardsPerClient) || shardsPerClient < 1) {
    throw new InvalidArgumentError(
      `shardsPerClient must be a positive integer, got ${shardsPerClient}`,
    );
  }
  checkClients(p.clients, p.labels.length, shardsPerClient);
  const rng = createRng(p.seed);
  // Shuffle before the stable sort so that records within one label are in random order.
  const sorted = rng.shuffle(range(p.labels.length)).sort((a, b) => p.labels[a] - p.labels[b]);
  const shardCount = p.clients * shardsPerClient;
  const shardOrder = rng.shuffle(range(shardCount));
  const parts: number[][] = Array.from({ length: p.clients }, () => []);
  for (let s = 0; s < shardCount; s++) {
    const shard = shardOrder[s];
    const start = Math.floor((shard * sorted.length) / shardCount);
    const end = Math.floor(((shard + 1) * sorted.length) / shardCount);
    const client = Math.floor(s / shardsPerClient);
    for (let i = start; i < end; i++) parts[client].push(sorted[i]);
  }
  return parts.map((part) => part.sort(ascending));
}

export interface PartitionParameters {
  spec: PartitionSpec;
  labels: Int32Array;
  classes: number;
  clients: number;
  seed: number;
  /** Dirichlet only; see partitionDirichlet. */
  minPerClient?: number;
}

/** Dispatches a parsed spec to its partitioner, so callers need no switch of their own. */
export function partition(p: PartitionParameters): number[][] {
  switch (p.spec.kind) {
    case "iid":
      return partitionIid({ labels: p.labels, clients: p.clients, seed: p.seed });
    case "dirichlet":
      return partitionDirichlet({
        labels: p.labels,
        classes: p.classes,
        clients: p.clients,
        alpha: p.spec.alpha,
        seed: p.seed,
        minPerClient: p.minPerClient,
      });
    case "shards":
      return partitionShards({
        labels: p.labels,
        clients: p.clients,
        shardsPerClient: p.spec.shardsPerClient,
        seed: p.seed,
      });
  }
}

/** The two partitions every caller handles; `parsePartition` returns only these. */
export type BasicPartitionSpec = Extract<PartitionSpec, { kind: "iid" | "dirichlet" }>;

/**
 * Parses "iid" or "dirichlet:<alpha>" (the forms a job spec and the CLI take). Shards are
 * refused here so that callers can switch over exactly two kinds; use `parsePartitionSpec`
 * to accept every kind and hand the result to `partition`.
 */
export function parsePartition(spec: string): BasicPartitionSpec {
  const parsed = parsePartitionSpec(spec);
  if (parsed.kind === "shards") {
    throw new InvalidArgumentError(
      `partition "${spec}" is not accepted here: expected "iid" or "dirichlet:<alpha>" (e.g. "dirichlet:0.5")`,
    );
  }
  return parsed;
}

/** Parses "iid", "dirichlet:<alpha>" or "shards:<per client>". */
export function parsePartitionSpec(spec: string): PartitionSpec {
  const text = spec.trim().toLowerCase();
  if (text === "iid") return { kind: "iid" };
  const match = /^(dirichlet|shards):(.+)$/.exec(text);
  if (match) {
    const [, kind, argument] = match;
    const value = Number(argument);
    if (kind === "dirichlet") {
      if (Number.isFinite(value) && value > 0) return { kind: "dirichlet", alpha: value };
      throw new InvalidArgumentError(
        `partition "${spec}": Dirichlet alpha must be a positive number, got "${argument}"`,
      );
    }
    if (Number.isInteger(value) && value >= 1) return { kind: "shards", shardsPerClient: value };
    throw new InvalidArgumentError(
      `partition "${spec}": shards per client must be a positive integer, got "${argument}"`,
    );
  }
  throw new InvalidArgumentError(
    `unknown partition "${spec}": expected "iid", "dirichlet:<alpha>" (e.g. "dirichlet:0.5") or "shards:<per client>" (e.g. "shards:2")`,
  );
}

/** Class shares (summing to 1) from Dirichlet(α, …, α), via normalised Gamma draws. */
function dirichlet(rng: Rng, alpha: number, k: number): Float64Array {
  const draws = new Float64Array(k);
  let sum = 0;
  for (let i = 0; i < k; i++) {
    draws[i] = rng.gamma(alpha);
    sum += draws[i];
  }
  if (sum === 0) {
    // Tiny alpha can underflow every draw; the limit of Dirichlet(α→0) is a one-hot share.
    draws[rng.int(k)] = 1;
    return draws;
  }
  for (let i = 0; i < k; i++) draws[i] /= sum;
  return draws;
}

function indicesByClass(labels: Int32Array, classes: number): number[][] {
  if (!Number.isInteger(classes) || classes < 1) {
    throw new InvalidArgumentError(`classes must be a positive integer, got ${classes}`);
  }
  const byClass: number[][] = Array.from({ length: classes }, () => []);
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i];
    if (label < 0 || label >= classes) {
      throw new InvalidArgumentError(`label ${label} at index ${i} is outside [0, ${classes - 1}]`);
    }
    byClass[label].push(i);
  }
  return byClass;
}

function checkClients(clients: number, records: number, minPerClient: number): void {
  if (!Number.isInteger(clients) || clients < 1) {
    throw new InvalidArgumentError(`clients must be a positive integer, got ${clients}`);
  }
  if (records < clients * minPerClient) {
    throw new InvalidArgumentError(
      `${records} records cannot give ${clients} clients at least ${minPerClient} each`,
    );
  }
}

function checkAlpha(alpha: number): void {
  if (!(alpha > 0) || !Number.isFinite(alpha)) {
    throw new InvalidArgumentError(`Dirichlet alpha must be a positive number, got ${alpha}`);
  }
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

function ascending(a: number, b: number): number {
  return a - b;
}
