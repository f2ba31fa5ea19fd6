/**
 * The web app in real headless Chromium against a real coordinator (Redis, BullMQ workers,
 * gRPC-web), on a two-round job with proofs on the small test circuits, anchored on a real
 * Anvil: one browser device beside two Node devices, its page reloaded in the middle of an
 * upload; then the dashboard, and the verify page checking the final model against the chain.
 */
import { mkdirSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pino from "pino";
import type { Browser, Page, Route } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TEST_CIRCUITS } from "../../circuits/circuit-catalog.js";
import { testCircuits } from "../../circuits/test-circuits.js";
import { syntheticDataset } from "../../client/core/data/synthetic.js";
import { releaseSnarkjsThreads } from "../../client/core/proving/release-snarkjs.js";
import { selectBackend } from "../../client/node/backend.js";
import { Device } from "../../client/node/device.js";
import { buildContracts } from "../../contracts/build.js";
import { verificationKeysOf } from "../../coordinator/jobs/job-circuits.js";
import { JobService } from "../../coordinator/jobs/job-service.js";
import { createFedproofClients, unary } from "../../proto/clients.js";
import type { JobInfo__Output } from "../../proto/generated/fedproof/v1/JobInfo.js";
import { type StartAnvilReturnType, startAnvil } from "../harness/anvil.js";
import { startTestCoordinator, type TestCoordinator, testLogger } from "../harness/coordinator.js";
import { deployTestRegistry } from "../harness/deploy-test-registry.js";
import { PROVING_SCHEMA, provingJobSpec } from "../harness/proving-device.js";
import { chromiumAvailable, launchChromium } from "./chromium.js";

await buildContracts();
const { fetchBundleFromCoordinator } = await import("../../verifier/fetch-bundle.js");
const { verifyModel } = await import("../../verifier/verify-model.js");
const { renderVerificationReport } = await import("../../verifier/report.js");

const SCREENSHOTS = fileURLToPath(new URL("./screenshots/", import.meta.url));
/** Bytes per upload chunk in the page: the 36-byte update goes up in five chunks. */
const CHUNK_BYTES = 8;
const WIDTHS = [360, 1280] as const;

/** Everything the page can scroll sideways by; the app must fit a phone's width. */
const scrollWidth = (page: Page) =>
  page.evaluate("document.documentElement.scrollWidth").then(Number);

/** Full-page screenshots at phone and desktop widths, checking that nothing overflows. */
async function screenshots(page: Page, name: string, ready: string) {
  for (const width of WIDTHS) {
    await page.setViewportSize({ width, height: width === 360 ? 780 : 900 });
    await page.waitForSelector(ready);
    // uPlot sizes its charts on the next animation frame after a resize.
    await page.evaluate("new Promise((resolve) => requestAnimationFrame(() => resolve()))");
    await page.screenshot({ path: path.join(SCREENSHOTS, `${name}-${width}.png`), fullPage: true });
    expect(
      await scrollWidth(page),
      `${name} page scrolls sideways at ${width} px`,
    ).toBeLessThanOrEqual(width);
  }
}

describe.runIf(chromiumAvailable())(
  "the web app in Chromium, on a job with proofs on chain",
  () => {
    let anvil: StartAnvilReturnType;
    let coordinator: TestCoordinator;
    let jobs: JobService;
    let browser: Browser;
    let jobId = "";
    let browserDevice = "";
    let finalModel: Uint8Array;
    let nodeRuns: Promise<unknown>[] = [];
    let scratch: string;

    beforeAll(async () => {
      mkdirSync(SCREENSHOTS, { recursive: true });
      scratch = await mkdtemp(path.join(os.tmpdir(), "fedproof-web-app-"));
      await selectBackend({ preferred: "cpu" });
      await testCircuits();
      anvil = await startAnvil();
      const { chain } = await deployTestRegistry(anvil);
      // Builds the app with Vite if web/dist is missing or older than its sources.
      coordinator = await startTestCoordinator("web-app", { web: {}, chain });
      // The coordinator's own JobService plans production circuits; this one the test circuits.
      jobs = new JobService({
        store: coordinator.store,
        artifacts: coordinator.artifacts,
        engine: coordinator.engine,
        chain,
        proofs: {
          plan: () => ({
            updateNorm: TEST_CIRCUITS.updateNorm,
            dataValidity: TEST_CIRCUITS.dataValidity,
          }),
        },
        logger: pino({ level: "silent" }),
      });
      browser = await launchChromium();
    }, 300_000);

    afterAll(async () => {
      await browser?.close();
      if (jobId) await coordinator.engine.cancelJob(jobId, "test finished").catch(() => {});
      await Promise.allSettled(nodeRuns);
      await coordinator?.dispose();
      await anvil?.stop();
      await releaseSnarkjsThreads();
      if (scratch) await rm(scratch, { recursive: true, force: true });
    });

    it("runs a browser device beside two Node devices through two proven rounds, resuming its upload after a reload", async () => {
      const job = await jobs.createJob(
        provingJobSpec({
          rounds: 2,
          clientsPerRound: 3,
          minClients: 3,
          roundDeadlineSeconds: 180,
          training: { learningRate: 0.2, epochs: 1 },
        }),
      );
      jobId = job.jobId;
      expect(job.chainJobId).not.toBe("");
      nodeRuns = [0, 1].map((i) =>
        new Device({
          address: coordinator.address,
          jobId,
          deviceId: `node-${i}`,
          data: syntheticDataset({
            samples: 40,
            seed: 10 + i,
            features: PROVING_SCHEMA.featureShape[0]!,
            classes: PROVING_SCHEMA.classes,
          }),
          seed: 20 + i,
          logger: testLogger,
        }).run(),
      );

      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const errors: string[] = [];
      page.on("pageerror", (error) => errors.push(error.message));

      // The second chunk of the first upload is held back, and the page reloaded under it: the
      // first chunk is stored, the rest must come from the reloaded page.
      let puts = 0;
      let held: Route | undefined;
      const stalled = new Promise<void>((resolve) => {
        void page.route("**/fedproof.v1.Coordinator/PutUploadChunk", async (route) => {
          puts++;
          if (puts === 2 && !held) {
            held = route;
            return resolve();
          }
          await route.continue();
        });
      });

      await page.goto(
        `${coordinator.webUrl}#/device?job=${jobId}&samples=40&chunk=${CHUNK_BYTES}&backend=cpu`,
      );
      await page.click("#join");
      await stalled;
      await page.waitForSelector('#device-status:has-text("uploaded 8 of 36 bytes")');
      await page.reload();
      await held!.abort().catch(() => {});

      // No click: the reloaded page finds its upload in IndexedDB and carries on.
      const resumed = await page.waitForSelector('.log li:has-text("resumed after a reload")', {
        timeout: 60_000,
      });
      const reason = (await resumed.textContent()) ?? "";
      const at = /resumed after a reload at byte (\d+) of (\d+), committed/.exec(reason);
      expect(at, reason).not.toBeNull();
      expect(Number(at![1])).toBe(CHUNK_BYTES);
      expect(Number(at![2])).toBe(36);

      await page.waitForSelector('#outcomes tr[data-round="2"][data-accepted="true"]', {
        timeout: 180_000,
      });
      // Its round-1 result went out while the page reloaded; the page looked it up.
      await page.waitForSelector('#outcomes tr[data-round="1"][data-accepted="true"]');
      await Promise.all(nodeRuns);

      // The coordinator's own record of both rounds, through the native Jobs.GetJob, once anchored.
      const clients = createFedproofClients(coordinator.address);
      let info: JobInfo__Output;
      try {
        for (;;) {
          info = await unary<JobInfo__Output>((callback) =>
            clients.jobs.getJob({ jobId }, callback),
          );
          if (info.rounds.length === 2 && info.rounds.every((r) => r.anchorTx)) break;
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      } finally {
        clients.close();
      }
      expect(info.state).toBe("JOB_STATE_COMPLETED");
      for (const round of info.rounds) {
        expect(round, `round ${round.round}`).toMatchObject({
          accepted: 3,
          rejected: 0,
          proofsVerified: 3,
          proofsRejected: 0,
        });
      }

      const stored = await page.evaluate(`new Promise((resolve, reject) => {
      const open = indexedDB.open("fedproof-device", 1);
      open.onerror = () => reject(open.error);
      open.onsuccess = () => {
        const get = open.result.transaction("identity").objectStore("identity").get("default");
        get.onsuccess = () => resolve(get.result?.jobs?.[${JSON.stringify(jobId)}]);
      };
    })`);
      browserDevice = (stored as { deviceId: string }).deviceId;
      // The upload was finished and forgotten; the key and id survived the reload.
      expect(stored).not.toHaveProperty("upload");
      for (const round of [1, 2]) {
        const contributions = await coordinator.store.contributions(jobId, round);
        const mine = contributions.find((c) => c.deviceId === browserDevice);
        expect(mine, `round ${round}: the browser device contributed`).toBeDefined();
        // One chunk of 64 values holds the 18 parameters, plus the data-validity proof.
        expect(mine!.proofs.map((p) => p.circuitId)).toEqual([
          expect.stringMatching(/^update-norm-/),
          expect.stringMatching(/^data-validity-/),
        ]);
      }
      const record = await coordinator.store.findDevice(jobId, browserDevice);
      expect(record?.platform).toMatch(/^browser /);
      expect(errors).toEqual([]);
      finalModel = await coordinator.artifacts.get(info.currentModelHash);

      await screenshots(page, "device", '#outcomes tr[data-round="2"]');
      await page.close();
    }, 360_000);

    it("shows both rounds with accuracy and proof counts on the dashboard", async () => {
      const page = await browser.newPage();
      await page.goto(`${coordinator.webUrl}#/dashboard?job=${jobId}`);
      await page.waitForSelector(`#jobs li[data-job="${jobId}"]`);
      for (const round of [1, 2]) {
        const row = page.locator(`#rounds tr[data-round="${round}"]`);
        await row.waitFor();
        const cells = await row.locator("td").allTextContents();
        expect(cells[0]).toBe(String(round));
        expect(cells[3]).toBe("3");
        expect(Number(cells[6])).toBeGreaterThan(0);
        expect(cells[8]).toBe("3/0");
        expect(cells[9]).toMatch(/^0x[0-9a-f]{8}…[0-9a-f]{6}$/);
      }
      // Updates, accuracy and loss; a job without central DP has no ε to chart, and says so.
      expect(await page.locator("[data-chart]").count()).toBe(3);
      expect(await page.textContent("#no-dp")).toMatch(/^no central differential privacy/);
      await screenshots(page, "dashboard", '#rounds tr[data-round="2"]');
      await page.close();
    });

    it("verifies the final model on the verify page, and names a flipped byte as not anchored", async () => {
      const good = path.join(scratch, "model.bin");
      const flipped = path.join(scratch, "model-flipped.bin");
      await writeFile(good, finalModel);
      // The logistic regression's 18 weights are 72 bytes: flip one in the middle.
      const bad = new Uint8Array(finalModel);
      bad[36] = bad[36]! ^ 0x01;
      await writeFile(flipped, bad);

      const page = await browser.newPage();
      const errors: string[] = [];
      page.on("pageerror", (error) => errors.push(error.message));
      await page.goto(
        `${coordinator.webUrl}#/verify?job=${jobId}&rpc=${encodeURIComponent(anvil.rpcUrl)}`,
      );
      await page.setInputFiles("#model-file", good);
      await page.click("#verify");
      const result = await page.waitForSelector("#verify-result", { timeout: 120_000 });
      const report = (await page.textContent("#verify-report")) ?? "";
      expect(await result.getAttribute("data-ok"), report).toBe("true");
      // Three contributions a round, each one chunk proof and one data-validity proof.
      expect(await page.textContent("#verify-verdict")).toBe("verified: 2 rounds, 12 proofs");
      // Word for word what `fedproof verify --coordinator` prints for the same file.
      const circuits = await jobs.jobCircuits(jobId);
      const bundle = await fetchBundleFromCoordinator(
        coordinator.address,
        jobId,
        { rpcUrl: anvil.rpcUrl },
        { verificationKeys: verificationKeysOf(circuits!) },
      );
      const cli = await verifyModel({
        modelBytes: finalModel,
        rpcUrl: anvil.rpcUrl,
        registry: bundle.chain.registry,
        bundle,
      });
      expect(report).toBe(renderVerificationReport(cli, "model.bin"));
      await screenshots(page, "verify", "#verify-result");

      await page.setInputFiles("#model-file", flipped);
      await page.click("#verify");
      await page
        .waitForSelector('#verify-result[data-ok="false"], #verify-error', { timeout: 60_000 })
        .catch(async (error) => {
          throw new Error(`${error}: ${await page.textContent("main")}`);
        });
      expect(
        await page.locator("#verify-error").count(),
        (await page.textContent("main")) ?? "",
      ).toBe(0);
      expect(await page.textContent("#verify-verdict")).toMatch(
        /^1 mismatch: model hash 0x[0-9a-f]{64} is not anchored in registry 0x[0-9a-fA-F]{40} \(chain 31337\)$/,
      );
      expect(errors).toEqual([]);
      await page.close();
    });
  },
);
