import type * as grpc from "@grpc/grpc-js";
import {
  type JoinJobParameters,
  joinJob,
  submitUpdate,
} from "../../client/node/coordinator-client.js";
import { createFedproofClients } from "../../proto/clients.js";
import type { RoundTask__Output } from "../../proto/generated/fedproof/v1/RoundTask.js";
import type { TaskEvent__Output } from "../../proto/generated/fedproof/v1/TaskEvent.js";
import type { UpdateHeader } from "../../proto/generated/fedproof/v1/UpdateHeader.js";
import { randomPrivateKey } from "../../protocol/proving/eddsa-poseidon.js";

/** The header of a 16-bit update for `task`, filled in as an honest device does. */
export function updateHeaderFor(task: RoundTask__Output, samples = 100) {
  return {
    jobId: task.jobId,
    round: task.round,
    globalModelHash: task.globalModelHash,
    samples,
    bits: 16,
    paramCount: task.paramCount,
  };
}

/** An all-zero 16-bit update for `task`: two bytes a parameter. */
export function zeroUpdateFor(task: RoundTask__Output): Uint8Array {
  return new Uint8Array(Number(task.paramCount) * 2);
}

/** What a raw device joins with beyond job, id and samples (its key: a fresh one by default). */
export type RawDeviceOptions = Partial<Omit<JoinJobParameters, "jobId" | "deviceId" | "samples">>;

/**
 * A device driven by hand over the real gRPC API, for tests that need to send what an
 * honest device never would (wrong shapes, late uploads). It joins as a device does: a nonce
 * from GetJoinChallenge, a Join signed with its key (`privateKey`, kept for a re-Join).
 */
export async function joinRawDevice(
  address: string,
  jobId: string,
  deviceId: string,
  samples = 100,
  options: RawDeviceOptions = {},
) {
  const clients = createFedproofClients(address);
  const privateKey = options.privateKey ?? randomPrivateKey();
  const session = await joinJob(clients.coordinator, {
    ...options,
    jobId,
    deviceId,
    samples,
    privateKey,
  }).catch((error: unknown) => {
    clients.close();
    throw error;
  });
  const stream = clients.coordinator.tasks({ sessionToken: session.sessionToken });
  const events: TaskEvent__Output[] = [];
  const waiters: (() => void)[] = [];
  stream.on("data", (event: TaskEvent__Output) => {
    events.push(event);
    for (const wake of waiters.splice(0)) wake();
  });
  stream.on("error", () => {});

  async function next(
    kind: "task" | "result" | "ended",
    timeoutMs = 30_000,
  ): Promise<TaskEvent__Output> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = events.findIndex((event) => event[kind]);
      if (index >= 0) return events.splice(index, 1)[0]!;
      if (Date.now() > deadline)
        throw new Error(`device ${deviceId}: no ${kind} event within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, 200);
      });
    }
  }

  /** The task of round `round`, skipping the tasks of earlier rounds. */
  async function taskOfRound(round: number): Promise<RoundTask__Output> {
    for (;;) {
      const { task } = await next("task");
      if (task!.round === round) return task!;
    }
  }

  return {
    session,
    clients,
    privateKey,
    next,
    taskOfRound,
    submit(header: Omit<UpdateHeader, "sessionToken">, bytes: Uint8Array) {
      return submitUpdate(
        clients.coordinator,
        { ...header, sessionToken: session.sessionToken },
        bytes,
      );
    },
    close() {
      stream.cancel();
      clients.close();
    },
  };
}

export function isServiceError(error: unknown): error is grpc.ServiceError {
  return typeof error === "object" && error !== null && "code" in error && "details" in error;
}
