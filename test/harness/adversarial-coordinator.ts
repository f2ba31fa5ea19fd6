import { afterAll, beforeAll } from "vitest";
import type { StartCoordinatorParameters } from "../../coordinator/coordinator.js";
import { connectRedis, type RedisClient } from "../../coordinator/store/redis.js";
import { createFedproofClients, type FedproofClients } from "../../proto/clients.js";
import { startTestCoordinator, type TestCoordinator } from "./coordinator.js";
import { TEST_REDIS_URL } from "./redis.js";

/** The coordinator an attack is driven against, and the test's own connections to it. */
export interface AdversarialCoordinator {
  readonly coordinator: TestCoordinator;
  /** A connection of the test's own, to read the stored bytes rather than the store's view. */
  readonly redis: RedisClient;
  /** gRPC clients of the test's own: the attacker's, or a device's second connection. */
  readonly clients: FedproofClients;
}

export interface StartAdversarialCoordinatorOptions {
  /** More setup once the coordinator is up, in the same `beforeAll`. */
  setup?: (coordinator: TestCoordinator) => Promise<void>;
  /** More teardown once the coordinator is disposed of, in the same `afterAll`. */
  teardown?: () => Promise<void>;
  /** The `beforeAll` timeout, for setups slower than vitest's default. */
  setupTimeoutMs?: number;
}

/**
 * Starts a coordinator before the file's attacks and disposes of it after them (call it inside
 * `describe`): its fields are there from the first test on.
 */
export function startAdversarialCoordinator(
  name: string,
  overrides: Partial<StartCoordinatorParameters> = {},
  options: StartAdversarialCoordinatorOptions = {},
): AdversarialCoordinator {
  let coordinator: TestCoordinator | undefined;
  let redis: RedisClient | undefined;
  let clients: FedproofClients | undefined;
  beforeAll(async () => {
    coordinator = await startTestCoordinator(name, overrides);
    redis = await connectRedis(TEST_REDIS_URL);
    clients = createFedproofClients(coordinator.address);
    await options.setup?.(coordinator);
  }, options.setupTimeoutMs);
  afterAll(async () => {
    clients?.close();
    redis?.disconnect();
    await coordinator?.dispose();
    await options.teardown?.();
  });
  return {
    get coordinator() {
      return started(coordinator, "coordinator");
    },
    get redis() {
      return started(redis, "redis");
    },
    get clients() {
      return started(clients, "clients");
    },
  };
}

/** `value` once `beforeAll` has set it; a clear error for a test that reads it at collection. */
export function started<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`the adversarial ${what} is read before beforeAll ran`);
  return value;
}
