import { describe, expect, it } from "vitest";
import { fingerprint, redact } from "./redact.js";

describe("redact", () => {
  it.each([
    ["redis://:pw@127.0.0.1:6379/2", "redis://:***@127.0.0.1:6379/2"],
    ["rediss://default:p%40ss@cache.internal:6380", "rediss://default:***@cache.internal:6380"],
    ["redis://127.0.0.1:6379", "redis://127.0.0.1:6379"],
    ["http://127.0.0.1:8545", "http://127.0.0.1:8545"],
    ["https://eth-mainnet.g.alchemy.com/v2/KEY", "https://eth-mainnet.g.alchemy.com/***"],
    ["https://rpc.example/?apikey=KEY", "https://rpc.example/?***"],
    ["https://KEY@rpc.example", "https://***@rpc.example"],
  ])("%s → %s", (url, expected) => {
    expect(redact(url)).toBe(expected);
  });

  it("redacts every URL and bearer token inside text, keeping the punctuation around them", () => {
    expect(
      redact(
        "HTTP request failed.\nURL: https://rpc.example/v3/KEY (at redis://:pw@h:1).\nBearer abc.def-123",
      ),
    ).toBe("HTTP request failed.\nURL: https://rpc.example/*** (at redis://:***@h:1).\nBearer ***");
  });

  it("leaves prose about bearer tokens alone", () => {
    expect(redact("missing bearer token: send `authorization: Bearer <token>`")).toBe(
      "missing bearer token: send `authorization: Bearer <token>`",
    );
    expect(redact("authorization: Bearer 3q2-7w_xYzAbCdEf")).toBe("authorization: Bearer ***");
  });

  it("names a secret by a short hash", () => {
    expect(fingerprint("token")).toMatch(/^sha256:[0-9a-f]{12}$/);
    expect(fingerprint("token")).not.toBe(fingerprint("other"));
  });

  it("keeps every host of a cluster URL and hides its password, wherever it appears", () => {
    expect(redact("connect ECONNREFUSED redis://:secret@h1:7000,h2:7001/0.")).toBe(
      "connect ECONNREFUSED redis://:***@h1:7000,h2:7001/0.",
    );
    expect(redact("redis://h1:7000,h2:7001")).toBe("redis://h1:7000,h2:7001");
  });
});
