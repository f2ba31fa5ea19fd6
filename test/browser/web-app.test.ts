import { mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { syntheticDataset } from "../../client/core/data/synthetic.js";
import { selectBackend } from "../../client/node/backend.js";
import { Device } from "../../client/node/device.js";
import { createFedproofClients, unary } from "../../proto/clients.js";
import type { JobInfo__Output } from "../../proto/generated/fedproof/v1/JobInfo.js";
import { startTestCoordinator, type TestCoordinator, testLogger } from "../harness/coordinator.js";
import { chromiumAvailable, launchChromium } from "./chromium.js";

const SCREENSHOTS = fileURLToPath(new URL("./screenshots/", import.meta.url));
const schema = { featureShape: [16], min: 0, max: 1, classes: 4 };

describe.runIf(chromiumAvailable())("the web app in Chromium", () => {
  let coordinator: TestCoordinator;
  let browser: Browser;
  let jobId: string;
  let nodeRuns: Promise<unknown>[] = [];

  beforeAll(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    await selectBackend({ preferred: "cpu" });
    // Builds the app with Vite if web/dist is missing or older than its sources.
    coordinator = await startTestCoordinator("web-app", { web: {} });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await Promise.allSettled(nodeRuns);
    await coordinator?.dispose();
  });

  it("runs a browser device beside Node devices, and its update is accepted in a round", async () => {
    const job = await coordinator.jobs.createJob({
      model: "logreg",
      schema,
      rounds: 2,
      clientsPerRound: 3,
      minClients: 3,
      overSelection: 1,
      roundDeadlineSeconds: 120,
      clipNorm: 5,
      training: { learningRate: 0.2, epochs: 1 },
    });
    jobId = job.jobId;
    nodeRuns = [0, 1].map((i) =>
      new Device({
        address: coordinator.address,
        jobId,
        deviceId: `node-${i}`,
        data: syntheticDataset({ samples: 200, seed: 10 + i }),
        seed: 20 + i,
        logger: testLogger,
      }).run(),
    );

    const page = await browser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(error.message));
    await page.goto(`${coordinator.webUrl}#/device?job=${jobId}&samples=200`);
    await page.click("#join");
    await page.waitForSelector('#outcomes tr[data-round="1"][data-accepted="true"]', {
      timeout: 150_000,
    });
    const status = await page.textContent("#device-status");
    console.log(`browser device: ${status}`);

    // The coordinator's own record of the round, through the native Jobs.GetJob.
    const clients = createFedproofClients(coordinator.address);
    try {
      const info = await unary<JobInfo__Output>((callback) =>
        clients.jobs.getJob({ jobId }, callback),
      );
      const first = info.rounds.find((r) => r.round === 1)!;
      expect(first.accepted).toBe(3);
      expect(first.rejected).toBe(0);
    } finally {
      clients.close();
    }
    const contributors = (await coordinator.store.contributions(jobId, 1)).map((c) => c.deviceId);
    expect(contributors.filter((id) => !id.startsWith("node-"))).toHaveLength(1);
    const browserDevice = contributors.find((id) => !id.startsWith("node-"))!;
    const record = await coordinator.store.findDevice(jobId, browserDevice);
    expect(record?.platform).toMatch(/^browser /);
    expect(errors).toEqual([]);

    // A reload keeps the key and the device id (IndexedDB): the next Join is the same device.
    await page.reload();
    // Runs in the page (a string: this file is type-checked without the DOM library).
    const stored = await page.evaluate(`new Promise((resolve, reject) => {
      const open = indexedDB.open("fedproof-device", 1);
      open.onerror = () => reject(open.error);
      open.onsuccess = () => {
        const get = open.result.transaction("identity").objectStore("identity").get("default");
        get.onsuccess = () => resolve(get.result?.jobs?.[${JSON.stringify(jobId)}]?.deviceId);
      };
    })`);
    expect(stored).toBe(browserDevice);
    await page.close();
  }, 300_000);

  it("lists the job and its rounds on the dashboard", async () => {
    const page = await browser.newPage();
    await page.goto(`${coordinator.webUrl}#/dashboard?job=${jobId}`);
    await page.waitForSelector(`#jobs li[data-job="${jobId}"]`);
    await page.waitForSelector('#rounds tr[data-round="1"]');
    const row = await page.textContent('#rounds tr[data-round="1"]');
    expect(row).toMatch(/^1/);
    expect(await page.locator("[data-chart]").count()).toBe(3);
    await page.close();
  });

  it("fits a 360-px-wide screen without horizontal overflow", async () => {
    const context = await browser.newContext({ viewport: { width: 360, height: 780 } });
    const page = await context.newPage();
    for (const [name, route] of [
      ["dashboard", `#/dashboard?job=${jobId}`],
      ["device", `#/device?job=${jobId}`],
    ] as const) {
      await page.goto(`${coordinator.webUrl}${route}`);
      await page.waitForSelector(name === "dashboard" ? '#rounds tr[data-round="1"]' : "#join");
      await page.waitForTimeout(300);
      const width = await page.evaluate("document.documentElement.scrollWidth");
      await page.screenshot({ path: path.join(SCREENSHOTS, `${name}-360.png`), fullPage: true });
      expect(Number(width), `${name} page scrolls sideways`).toBeLessThanOrEqual(360);
    }
    await context.close();
  });
});
