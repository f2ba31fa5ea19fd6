import { existsSync } from "node:fs";
import { readdir, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const WEB_DIR = fileURLToPath(new URL("../../web/", import.meta.url));
export const WEB_DIST = path.join(WEB_DIR, "dist");
const SOURCES = [
  path.join(WEB_DIR, "src"),
  path.join(WEB_DIR, "index.html"),
  path.join(WEB_DIR, "vite.config.ts"),
  fileURLToPath(new URL("../../proto/fedproof/v1/", import.meta.url)),
];

let building: Promise<string> | undefined;

/**
 * The web app's built files (web/dist, git-ignored), built with Vite on first use and again
 * whenever a source is newer than the build, like the contract bindings: `npm ci` and a
 * coordinator with --web is all it takes. Builds into a scratch folder and renames it into
 * place, so a concurrent reader never sees half a build.
 */
export function ensureWebApp(): Promise<string> {
  building ??= (async () => {
    const built = path.join(WEB_DIST, "index.html");
    if (existsSync(built) && (await newestMtime(SOURCES)) <= (await stat(built)).mtimeMs) {
      return WEB_DIST;
    }
    const { build } = await import("vite");
    const scratch = path.join(WEB_DIR, `.dist-${process.pid}-${Date.now()}`);
    try {
      await build({
        configFile: path.join(WEB_DIR, "vite.config.ts"),
        root: WEB_DIR,
        logLevel: "warn",
        build: { outDir: scratch, emptyOutDir: true },
      });
      await rm(WEB_DIST, { recursive: true, force: true });
      await rename(scratch, WEB_DIST);
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
    return WEB_DIST;
  })().finally(() => {
    building = undefined;
  });
  return building;
}

async function newestMtime(paths: readonly string[]): Promise<number> {
  let newest = 0;
  for (const entry of paths) {
    const info = await stat(entry).catch(() => undefined);
    if (!info) continue;
    if (info.isDirectory()) {
      const children = (await readdir(entry)).map((name) => path.join(entry, name));
      newest = Math.max(newest, await newestMtime(children));
    } else newest = Math.max(newest, info.mtimeMs);
  }
  return newest;
}
