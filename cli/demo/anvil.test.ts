import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createPublicClient, createWalletClient, http, parseEther } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { foundry } from "viem/chains";
import { afterAll, describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../common/errors.js";
import { AnvilError, type StartAnvilReturnType, startAnvil } from "./anvil.js";

const started: StartAnvilReturnType[] = [];
async function start(...parameters: Parameters<typeof startAnvil>): Promise<StartAnvilReturnType> {
  const anvil = await startAnvil(...parameters);
  started.push(anvil);
  return anvil;
}

afterAll(async () => {
  await Promise.all(started.map((anvil) => anvil.stop()));
});

async function answers(rpcUrl: string): Promise<boolean> {
  try {
    const response = await fetch(rpcUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] }),
    });
    return response.ok;
  } catch {
    return false;
  }
}

describe("startAnvil", () => {
  it("picks a free port on 127.0.0.1 and hands out the funded dev keys", async () => {
    const anvil = await start({ accounts: 3 });
    expect(anvil.port).toBeGreaterThan(0);
    expect(anvil.rpcUrl).toBe(`http://127.0.0.1:${anvil.port}`);
    expect(anvil.chainId).toBe(31337);
    expect(anvil.accounts).toHaveLength(3);
    const client = createPublicClient({ chain: foundry, transport: http(anvil.rpcUrl) });
    expect(await client.getChainId()).toBe(31337);
    for (const account of anvil.accounts) {
      expect(privateKeyToAccount(account.privateKey).address).toBe(account.address);
      expect(await client.getBalance({ address: account.address })).toBe(parseEther("10000"));
    }
  });

  it("stops the node, and stopping twice is harmless", async () => {
    const anvil = await start({ chainId: 1337 });
    expect(anvil.chainId).toBe(1337);
    expect(await answers(anvil.rpcUrl)).toBe(true);
    await anvil.stop();
    await anvil.stop();
    expect(await answers(anvil.rpcUrl)).toBe(false);
  });

  it("keeps the chain in statePath across a restart", async () => {
    const directory = await mkdtemp(join(tmpdir(), "fedproof-anvil-"));
    try {
      const statePath = join(directory, "chain.json");
      const recipient = "0x000000000000000000000000000000000000f00d";
      const first = await start({ statePath });
      const account = privateKeyToAccount(first.accounts[0]!.privateKey);
      const chain = { ...foundry, rpcUrls: { default: { http: [first.rpcUrl] } } };
      const wallet = createWalletClient({ chain, account, transport: http(first.rpcUrl) });
      const reader = createPublicClient({
        chain,
        transport: http(first.rpcUrl),
        pollingInterval: 50,
      });
      const hash = await wallet.sendTransaction({ to: recipient, value: 1234n });
      await reader.waitForTransactionReceipt({ hash });
      const blockNumber = await reader.getBlockNumber();
      await first.stop();
      expect((await stat(statePath)).size).toBeGreaterThan(0);

      const second = await start({ statePath });
      const again = createPublicClient({ chain: foundry, transport: http(second.rpcUrl) });
      expect(await again.getBalance({ address: recipient })).toBe(1234n);
      expect(await again.getBlockNumber()).toBe(blockNumber);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  it("fails with the node's own words when the port is taken", async () => {
    const first = await start();
    const error = await startAnvil({ port: first.port, startTimeoutMs: 20_000 }).catch(
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(AnvilError);
    expect((error as AnvilError).shortMessage).toMatch(/exited during start-up/);
    expect((error as AnvilError).details).toMatch(/address|in use/i);
  });

  it("reports a missing binary as AnvilError", async () => {
    await expect(startAnvil({ binary: "/nonexistent/anvil" })).rejects.toBeInstanceOf(AnvilError);
  });

  it("refuses an invalid port before spawning anything", async () => {
    await expect(startAnvil({ port: 70_000 })).rejects.toBeInstanceOf(InvalidArgumentError);
  });
});
