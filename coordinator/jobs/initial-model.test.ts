import { status } from "@grpc/grpc-js";
import * as tf from "@tensorflow/tfjs";
// Registers the wasm backend at a higher priority than cpu, without initialising it: the state
// of a process that loaded the device code (as the CLI does) but selected no backend.
import "@tensorflow/tfjs-backend-wasm";
import { describe, expect, it } from "vitest";
import { toServiceError } from "../grpc/status.js";
import {
  createInitialModel,
  ModelBackendUnavailableError,
  prepareModelBackend,
} from "./initial-model.js";

const schema = { featureShape: [16], min: 0, max: 1, classes: 4 };

describe("createInitialModel", () => {
  it("fails with FAILED_PRECONDITION, not INTERNAL, while no backend is initialised", () => {
    expect(tf.getBackend()).toBeFalsy();
    let error: unknown;
    try {
      createInitialModel("logreg", schema, 7);
    } catch (thrown) {
      error = thrown;
    }
    expect(error).toBeInstanceOf(ModelBackendUnavailableError);
    expect(String(error)).toMatch(/no initialised tfjs backend/);
    expect(toServiceError(error)).toMatchObject({ code: status.FAILED_PRECONDITION });
  });

  it("builds the same model on whichever backend prepareModelBackend initialised", async () => {
    expect(await prepareModelBackend()).toBe("wasm");
    const onWasm = createInitialModel("logreg", schema, 7);
    expect(onWasm.manifest.paramCount).toBe(16 * 4 + 4);
    await tf.setBackend("cpu");
    expect(await prepareModelBackend()).toBe("cpu");
    const onCpu = createInitialModel("logreg", schema, 7);
    expect(Buffer.from(onCpu.bytes).equals(Buffer.from(onWasm.bytes))).toBe(true);
  });
});
