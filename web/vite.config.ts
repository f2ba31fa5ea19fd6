import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

// Built by coordinator/web/web-app.ts on first use (or `npx vite build web`); output in web/dist.
export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "/",
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  worker: { format: "es" },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    chunkSizeWarningLimit: 8_000,
    reportCompressedSize: false,
  },
  server: { fs: { allow: [fileURLToPath(new URL("..", import.meta.url))] } },
});
