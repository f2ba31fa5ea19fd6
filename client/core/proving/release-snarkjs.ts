/**
 * snarkjs keeps one BN254 curve per process (ffjavascript caches it on `globalThis`) with a
 * pool of worker threads that keeps the process alive. Call this when a process is done
 * proving or verifying (CLI commands, tests); the next snarkjs call rebuilds the curve.
 */
export async function releaseSnarkjsThreads(): Promise<void> {
  const holder = globalThis as { curve_bn128?: { terminate(): Promise<void> } | null };
  const curve = holder.curve_bn128;
  if (curve) {
    holder.curve_bn128 = null;
    await curve.terminate();
  }
}
