#!/usr/bin/env node
// Runs the TypeScript CLI through tsx's loader, so `npx fedproof` needs no build step.
import { existsSync } from "node:fs";
import { register } from "tsx/esm/api";

register();
// The contract bindings are generated (and git-ignored); build them on first use, offline,
// so `npm ci && npx fedproof demo` works on a fresh clone.
if (!existsSync(new URL("../contracts/generated/fedproof-registry.ts", import.meta.url))) {
  const { buildContracts } = await import("../contracts/build.ts");
  await buildContracts();
}
await import("../cli/main.ts");
