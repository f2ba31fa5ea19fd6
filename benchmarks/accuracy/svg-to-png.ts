import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { FedproofError } from "../../common/errors.js";

/** No SVG rasteriser on this machine; the caller keeps the figures without the picture. */
export class RasteriserMissingError extends FedproofError {
  override name = "RasteriserMissingError";
  constructor(cause: unknown) {
    super("rsvg-convert is not installed", {
      code: "FAILED_PRECONDITION",
      details: "apt-get install librsvg2-bin",
      cause,
    });
  }
}

/**
 * Rasterises an SVG document to `pngPath` with librsvg's `rsvg-convert` (Debian
 * librsvg2-bin): no plotting library in node_modules, and librsvg renders text with the
 * system's fonts, which a hand-rolled PNG encoder could not.
 */
export async function svgToPng(svg: string, pngPath: string): Promise<void> {
  const directory = await mkdtemp(path.join(os.tmpdir(), "fedproof-svg-"));
  try {
    const svgPath = path.join(directory, "figure.svg");
    await writeFile(svgPath, svg);
    try {
      await promisify(execFile)("rsvg-convert", ["--format", "png", "--output", pngPath, svgPath]);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT")
        throw new RasteriserMissingError(error);
      throw error;
    }
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}
