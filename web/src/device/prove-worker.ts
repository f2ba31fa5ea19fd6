/// <reference lib="webworker" />
import * as snarkjs from "snarkjs";

// One circuit per worker: its witness generator and proving key arrive once, then inputs.
let wasm: Uint8Array | undefined;
let zkey: Uint8Array | undefined;

self.onmessage = async ({ data }: MessageEvent) => {
  if (data.kind === "init") {
    wasm = data.wasm;
    zkey = data.zkey;
    return;
  }
  try {
    const { proof, publicSignals } = await snarkjs.groth16.fullProve(
      data.input,
      { type: "mem", data: wasm! },
      { type: "mem", data: zkey! },
    );
    self.postMessage({ id: data.id, ok: true, proof, publicSignals });
  } catch (error) {
    self.postMessage({
      id: data.id,
      ok: false,
      message: (error as Error)?.message ?? String(error),
    });
  }
};
