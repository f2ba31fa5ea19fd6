import { describe, expect, it } from "vitest";
import { churnPlan } from "./churn.js";

describe("churnPlan", () => {
  const churn = { fraction: 0.3, windowMs: 1_000, offlineMs: [200, 800] as const };

  it("drops exactly round(fraction × devices) distinct devices, within the window and range", () => {
    const plan = churnPlan({ churn, devices: 1000, seed: 1, round: 2 });
    expect(plan).toHaveLength(300);
    expect(new Set(plan.map((e) => e.device)).size).toBe(300);
    for (const event of plan) {
      expect(event.device).toBeGreaterThanOrEqual(0);
      expect(event.device).toBeLessThan(1000);
      expect(event.atMs).toBeGreaterThanOrEqual(0);
      expect(event.atMs).toBeLessThan(1_000);
      expect(event.offlineMs).toBeGreaterThanOrEqual(200);
      expect(event.offlineMs).toBeLessThanOrEqual(800);
    }
  });

  it("is the same plan in every process, and another one each round", () => {
    const a = churnPlan({ churn, devices: 100, seed: 7, round: 1 });
    expect(churnPlan({ churn, devices: 100, seed: 7, round: 1 })).toEqual(a);
    expect(churnPlan({ churn, devices: 100, seed: 7, round: 2 })).not.toEqual(a);
  });

  it("refuses a fraction outside [0, 1)", () => {
    expect(() => churnPlan({ churn: { fraction: 1 }, devices: 10, seed: 1, round: 1 })).toThrow(
      /churn must lie in/,
    );
    expect(churnPlan({ churn: { fraction: 0 }, devices: 10, seed: 1, round: 1 })).toEqual([]);
  });
});
