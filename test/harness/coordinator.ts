import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pino from "pino";
import {
  type RunningCoordinator,
  type StartCoordinatorParameters,
  startCoordinator,
} from "../../coordinator/coordinator.js";
import { deletePrefix, TEST_REDIS_URL, uniquePrefix } from "./redis.js";

export interface TestCoordinator extends RunningCoordinator {
  storeDir: string;
  /** Stops the coordinator and removes its keys and blobs. */
  dispose(): Promise<void>;
}

export const testLogger = pino({ level: process.env.FEDPROOF_TEST_LOG ?? "silent" });

/** A real coordinator (gRPC on 127.0.0.1, real Redis, real BullMQ) with its own prefix and store. */
export async function startTestCoordinator(
  name: string,
  overrides: Partial<StartCoordinatorParameters> = {},
): Promise<TestCoordinator> {
  const storeDir = await mkdtemp(path.join(os.tmpdir(), `fedproof-${name}-`));
  const prefix = overrides.prefix ?? uniquePrefix(name);
  const running = await startCoordinator({
    redisUrl: TEST_REDIS_URL,
    prefix,
    storeDir,
    port: 0,
    token: "test-token",
    logger: testLogger,
    // The shared test Redis runs without the append-only file; test state is thrown away.
    ephemeral: true,
    ...overrides,
  });
  return {
    ...running,
    storeDir,
    async dispose() {
      await running.stop();
      await deletePrefix(prefix);
      await rm(storeDir, { recursive: true, force: true });
    },
  };
}
