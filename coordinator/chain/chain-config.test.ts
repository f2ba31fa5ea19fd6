import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { inspect } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { anvilAccounts, type StartAnvilReturnType, startAnvil } from "../../cli/demo/anvil.js";
import {
  CHAIN_ENV,
  chainConfigFromEnv,
  chainConfigFromFlags,
  describeChainConfig,
  makeChainConfig,
  parsePrivateKey,
} from "./chain-config.js";

const [dev] = anvilAccounts(1);
const key = dev!.privateKey;
const registry = "0x5fbdb2315678afecb367f032d93f642f64180aa3";
const secretDigits = key.slice(2, 18);

let directory: string;
beforeAll(async () => {
  directory = await mkdtemp(path.join(os.tmpdir(), "fedproof-chain-config-"));
});
afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

describe("the chain key", () => {
  it("is read from $FEDPROOF_CHAIN_KEY", async () => {
    const config = await chainConfigFromEnv({
      [CHAIN_ENV.rpcUrl]: "http://127.0.0.1:8545",
      [CHAIN_ENV.chainId]: "31337",
      [CHAIN_ENV.registry]: registry,
      [CHAIN_ENV.key]: key,
    });
    expect(config.privateKey).toBe(key);
    expect(config.chainId).toBe(31337);
    expect(config.registry).toBe("0x5FbDB2315678afecb367f032d93F642f64180aa3");
  });

  it("is read from --key-file, which wins over the environment", async () => {
    const file = path.join(directory, "key");
    await writeFile(file, `${key.slice(2)}\n`);
    const config = await chainConfigFromFlags(
      { rpcUrl: "http://127.0.0.1:8545", chainId: 5, registry, keyFile: file },
      { [CHAIN_ENV.key]: `0x${"11".repeat(32)}` },
    );
    expect(config.privateKey).toBe(key);
  });

  it("never shows up in JSON, inspect output or the description", () => {
    const config = makeChainConfig({ rpcUrl: "http://x:1", chainId: 1, registry, privateKey: key });
    expect(JSON.stringify(config)).not.toContain(secretDigits);
    expect(inspect(config, { depth: 5 })).not.toContain(secretDigits);
    expect(Object.keys(config)).not.toContain("privateKey");
    const described = describeChainConfig(config);
    expect(described.sender).toBe(dev!.address);
    expect(JSON.stringify(described)).not.toContain(secretDigits);
  });

  it("is not quoted by the errors about it", async () => {
    const almost = `${key}00`;
    const error = (() => {
      try {
        parsePrivateKey(almost, "$FEDPROOF_CHAIN_KEY");
      } catch (caught) {
        return caught as Error;
      }
    })();
    expect(error?.message).toMatch(/\$FEDPROOF_CHAIN_KEY does not hold a 32-byte hex private key/);
    expect(`${error?.message} ${error?.stack}`).not.toContain(secretDigits);
    expect(() => parsePrivateKey(`0x${"0".repeat(64)}`, "k")).toThrow(/not hold a valid/);

    const file = path.join(directory, "bad-key");
    await writeFile(file, `${key} trailing`);
    const fromFile = chainConfigFromFlags({
      rpcUrl: "http://127.0.0.1:8545",
      chainId: 1,
      registry,
      keyFile: file,
    });
    await expect(fromFile).rejects.toThrow(new RegExp(`the key file ${file}`));
    await expect(fromFile.catch((e: Error) => e.message)).resolves.not.toContain(secretDigits);
  });

  it("is required, and never accepted as a flag", async () => {
    await expect(
      chainConfigFromFlags({ rpcUrl: "http://127.0.0.1:8545", chainId: 1, registry }, {}),
    ).rejects.toThrow(/pass --key-file FILE or set \$FEDPROOF_CHAIN_KEY/);
    await expect(
      chainConfigFromFlags(
        {
          rpcUrl: "http://127.0.0.1:8545",
          chainId: 1,
          registry,
          keyFile: path.join(directory, "missing"),
        },
        {},
      ),
    ).rejects.toThrow(/cannot read the chain key file .*ENOENT/);
  });
});

describe("the rest of the config", () => {
  let anvil: StartAnvilReturnType;
  beforeAll(async () => {
    anvil = await startAnvil({ chainId: 4242, accounts: 1 });
  });
  afterAll(async () => {
    await anvil?.stop();
  });

  it("asks the RPC endpoint for the chain id when none is given", async () => {
    const config = await chainConfigFromFlags(
      { rpcUrl: anvil.rpcUrl, registry },
      { [CHAIN_ENV.key]: key },
    );
    expect(config.chainId).toBe(4242);
  });

  it("names the missing or malformed part", async () => {
    await expect(chainConfigFromFlags({ registry }, { [CHAIN_ENV.key]: key })).rejects.toThrow(
      /pass --rpc-url or set \$FEDPROOF_RPC_URL/,
    );
    await expect(
      chainConfigFromFlags({ rpcUrl: anvil.rpcUrl }, { [CHAIN_ENV.key]: key }),
    ).rejects.toThrow(/pass --registry/);
    await expect(
      chainConfigFromFlags({ rpcUrl: anvil.rpcUrl, registry: "0x12" }, { [CHAIN_ENV.key]: key }),
    ).rejects.toThrow(/registry must be a contract address/);
    await expect(
      chainConfigFromFlags(
        { rpcUrl: anvil.rpcUrl, registry, chainId: "x" },
        { [CHAIN_ENV.key]: key },
      ),
    ).rejects.toThrow(/--chain-id must be a positive integer/);
    await expect(
      chainConfigFromFlags({ rpcUrl: "ws://h:1", registry, chainId: 1 }, { [CHAIN_ENV.key]: key }),
    ).rejects.toThrow(/must be http\(s\)/);
  });
});
