import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import path from "node:path";

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".wasm": "application/wasm",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".txt": "text/plain; charset=utf-8",
  ".map": "application/json; charset=utf-8",
};

/**
 * Serves the built web app from `root`. Paths never leave it; hashed files under /assets/
 * are cached for good, everything else is revalidated; an unknown path without an extension
 * gets index.html, so the app's own routes (/dashboard, /device) survive a reload.
 */
export async function serveStatic(
  request: IncomingMessage,
  response: ServerResponse,
  root: string,
): Promise<void> {
  const url = new URL(request.url ?? "/", "http://localhost");
  let relative: string;
  try {
    relative = decodeURIComponent(url.pathname);
  } catch {
    return plain(response, 400, "bad path");
  }
  let file = path.resolve(root, `.${path.posix.normalize(relative)}`);
  if (file !== root && !file.startsWith(`${root}${path.sep}`)) {
    return plain(response, 403, "forbidden");
  }
  let info = await stat(file).catch(() => undefined);
  if (info?.isDirectory()) {
    file = path.join(file, "index.html");
    info = await stat(file).catch(() => undefined);
  }
  if (!info && path.extname(file) === "") {
    file = path.join(root, "index.html");
    info = await stat(file).catch(() => undefined);
  }
  if (!info?.isFile()) return plain(response, 404, "not found");
  const immutable = relative.startsWith("/assets/");
  response.writeHead(200, {
    "content-type": CONTENT_TYPES[path.extname(file)] ?? "application/octet-stream",
    "content-length": info.size,
    "cache-control": immutable ? "public, max-age=31536000, immutable" : "no-cache",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
  });
  if (request.method === "HEAD") return void response.end();
  createReadStream(file).pipe(response);
}

function plain(response: ServerResponse, code: number, text: string): void {
  response.writeHead(code, { "content-type": "text/plain; charset=utf-8" });
  response.end(text);
}
