import { type KzgSrs, readSrsFromPtau } from "../protocol/proving/kzg.js";
import { type BuildCircuitsReturnType, buildCircuits, type CircuitArtifacts } from "./build.js";
import { TEST_CIRCUITS } from "./circuit-catalog.js";

let built: Promise<BuildCircuitsReturnType> | undefined;
let srs: Promise<KzgSrs> | undefined;

/**
 * The small test circuits with the development setup, built once per process and cached
 * across processes (FEDPROOF_CACHE_DIR or ~/.cache/fedproof). Both are built together so
 * that they share one development powers of tau.
 */
export async function testCircuits(): Promise<{
  updateNorm: CircuitArtifacts;
  dataValidity: CircuitArtifacts;
  ptauPath: string;
  /** The test chunk's KZG SRS (n + 2 powers) from the same development ptau. */
  srs: KzgSrs;
}> {
  built ??= buildCircuits({
    dev: true,
    circuits: [TEST_CIRCUITS.updateNorm, TEST_CIRCUITS.dataValidity],
  });
  const { circuits, ptauPath } = await built;
  srs ??= readSrsFromPtau(ptauPath, TEST_CIRCUITS.updateNorm.n + 2);
  return { updateNorm: circuits[0], dataValidity: circuits[1], ptauPath, srs: await srs };
}
