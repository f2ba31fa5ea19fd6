import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectJobIntact, FaultCluster, sleep, until } from "./fault-harness.js";

// The chain is stopped (SIGTERM: Anvil dumps its state, as the demo's does) twice while round
// 1's anchor is in flight, and started again on the same port from its state a few seconds later:
//
// 1. the anchor is in the node's pool, not mined, when the node stops: the restarted node has
//    lost it (a dump keeps mined blocks only), so the worker must send it again;
// 2. the resent anchor is mined in the very block the node stops with: the receipt was most
//    likely never read, so the retry must find the round anchored, send nothing, and succeed.
//
// Rounds 2 and 3 wait (retrying) for round 1 on the chain; the job itself never waits for it.
describe("Anvil stopped during anchoring and restarted", () => {
  const cluster = new FaultCluster();

  beforeAll(async () => {
    await cluster.start();
  }, 60_000);
  afterAll(async () => {
    await cluster.dispose();
  });

  it("every round is anchored exactly once and the job completes", async () => {
    const anvil = cluster.anvil!;
    const coordinator = await cluster.coordinator();
    const jobId = await cluster.createJob(coordinator.address, {
      rounds: 3,
      clientsPerRound: 4,
      minClients: 2,
      minAvailableClients: 4,
      roundDeadlineSeconds: 20,
    });
    // Deploying the registry and registering the job are mined; from here the node only
    // collects what it is sent, so round 1's anchor is certain to be pending when it stops.
    const minedBefore = await anvil.minedTransactions();
    await anvil.setAutomine(false);
    const devices = [0, 1, 2, 3].map((i) => cluster.device([coordinator.address], jobId, i, 4));

    let pending: string[] = [];
    const poolHolds = (what: string, timeoutMs: number) =>
      until(
        async () => {
          pending = await anvil.pendingTransactions();
          return pending.length > 0;
        },
        timeoutMs,
        what,
      ).catch((error: Error) => {
        throw new Error(`${error.message}\n${cluster.logs()}`);
      });

    // Generous: on a loaded machine the devices alone may take a minute to join.
    await poolHolds("round 1's anchor in the node's pool", 180_000);
    expect(pending).toHaveLength(1);
    await anvil.kill("SIGTERM");
    await sleep(3_000);
    // Restarted with mining on demand, so that the resent anchor waits in the pool too.
    await anvil.restart({ mining: false });
    const registry = anvil.registryClient();
    await expect(
      registry.getRoundAnchoredEvents({ jobId: BigInt(await chainJobIdOf(cluster, jobId)) }),
    ).resolves.toEqual([]);

    await poolHolds("round 1's anchor sent again", 90_000);
    const resent = pending;
    // (Its hash may well equal the lost one's: same nonce, same fields, same signature.)
    expect(resent).toHaveLength(1);
    await anvil.mine();
    await anvil.kill("SIGTERM");
    await sleep(3_000);
    await anvil.restart();

    const state = await cluster.waitForJobEnd(jobId, 120_000);
    expect(state, cluster.logs()).toBe("COMPLETED");
    const exits = await Promise.all(devices.map((device) => device.exited));
    for (const [i, exit] of exits.entries()) {
      expect(exit, devices[i]!.stderr()).toEqual({ code: 0, signal: null });
    }
    await expectJobIntact(cluster, jobId);

    // Round 1's anchor is the transaction mined as the chain stopped; the lost one never was.
    const round1 = await cluster.store((store) => store.getRound(jobId, 1));
    expect(round1.anchorTx).toBe(resent[0]);
    const client = anvil.registryClient();
    await expect(
      client.getRoundAnchoredEvents({ jobId: BigInt(await chainJobIdOf(cluster, jobId)) }),
    ).resolves.toHaveLength(3);
    // One transaction per round: no retry sent a second anchor, not even one the contract
    // refused (a lost transaction never used its nonce).
    expect(await anvil.minedTransactions()).toBe(minedBefore + 3);
  }, 480_000);
});

function chainJobIdOf(cluster: FaultCluster, jobId: string): Promise<string> {
  return cluster.store(async (store) => (await store.getJob(jobId)).chainJobId);
}
