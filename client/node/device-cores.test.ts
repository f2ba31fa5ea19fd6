import { availableParallelism } from "node:os";
import { afterEach, describe, expect, it } from "vitest";
import { coresPerDeviceProcess, DEVICE_CORES_ENV, deviceCores } from "./device-cores.js";

describe("device cores", () => {
  const saved = process.env[DEVICE_CORES_ENV];
  afterEach(() => {
    if (saved === undefined) delete process.env[DEVICE_CORES_ENV];
    else process.env[DEVICE_CORES_ENV] = saved;
  });

  it("is every core unless the environment gives the device a share", () => {
    delete process.env[DEVICE_CORES_ENV];
    expect(deviceCores()).toBe(availableParallelism());
    process.env[DEVICE_CORES_ENV] = "1";
    expect(deviceCores()).toBe(1);
    for (const bad of ["0", "-2", "1.5", "two"]) {
      process.env[DEVICE_CORES_ENV] = bad;
      expect(() => deviceCores()).toThrow(DEVICE_CORES_ENV);
    }
  });

  it("splits the machine's cores between device processes, one at least", () => {
    expect(coresPerDeviceProcess(1)).toBe(availableParallelism());
    expect(coresPerDeviceProcess(availableParallelism() * 4)).toBe(1);
    expect(coresPerDeviceProcess(0)).toBe(availableParallelism());
  });
});
