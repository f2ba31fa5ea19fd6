/**
 * Training throughput of small conv nets on the wasm backend (with these kernels) and the
 * cpu backend: random 28×28×1 inputs, 10 classes, SGD on softmax cross-entropy.
 *
 *   npx tsx client/core/wasm-grad-kernels/benchmark-training.ts [--model cnn|cnn-valid|cnn-fedavg|mlp]
 *     [--backends wasm,cpu] [--seconds 5] [--batch 32] [--builtins] [--profile]
 *
 * --builtins keeps tfjs-backend-wasm's own MaxPoolGrad/Conv2DBackpropInput/BatchMatMul;
 * --profile prints per-kernel times per step. Samples per CPU-second are printed
 * beside wall-clock samples/s because other processes may share the machine.
 */
import * as tf from "@tensorflow/tfjs";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import { registerWasmGradKernels } from "./index.js";

type ModelName = "cnn" | "cnn-valid" | "cnn-fedavg" | "mlp";

function option(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 && at + 1 < process.argv.length ? process.argv[at + 1] : fallback;
}

function buildModel(name: ModelName): tf.Sequential {
  const conv = (filters: number, padding: "same" | "valid", first: boolean) =>
    tf.layers.conv2d({
      ...(first ? { inputShape: [28, 28, 1] } : {}),
      filters,
      kernelSize: 5,
      padding,
      activation: "relu",
    });
  const pool = () => tf.layers.maxPooling2d({ poolSize: 2 });
  const dense = (units: number, activation: "relu" | "softmax") =>
    tf.layers.dense({ units, activation });
  const layers: tf.layers.Layer[] =
    name === "mlp"
      ? [tf.layers.flatten({ inputShape: [28, 28, 1] }), dense(200, "relu"), dense(200, "relu")]
      : name === "cnn-fedavg"
        ? [
            conv(32, "same", true),
            pool(),
            conv(64, "same", false),
            pool(),
            tf.layers.flatten(),
            dense(512, "relu"),
          ]
        : [
            conv(8, name === "cnn" ? "same" : "valid", true),
            pool(),
            conv(16, name === "cnn" ? "same" : "valid", false),
            pool(),
            tf.layers.flatten(),
          ];
  return tf.sequential({ layers: [...layers, dense(10, "softmax")] });
}

interface Measurement {
  backend: string;
  model: ModelName;
  batch: number;
  steps: number;
  samplesPerSecond: number;
  samplesPerCpuSecond: number;
  firstLoss: number;
  lastLoss: number;
}

async function measure(
  backend: string,
  modelName: ModelName,
  batch: number,
  seconds: number,
  profile: boolean,
): Promise<Measurement> {
  await tf.setBackend(backend);
  const model = buildModel(modelName);
  const optimizer = tf.train.sgd(0.05);
  const xs = tf.randomUniform([batch, 28, 28, 1], 0, 1, "float32", 1);
  const labels = tf.oneHot(tf.randomUniform([batch], 0, 10, "int32", 2), 10);
  const step = (): number => {
    const loss = optimizer.minimize(
      () => tf.losses.softmaxCrossEntropy(labels, model.apply(xs) as tf.Tensor) as tf.Scalar,
      true,
    );
    const value = loss?.dataSync()[0] ?? Number.NaN;
    loss?.dispose();
    return value;
  };
  const firstLoss = step();
  for (let i = 0; i < 5; i++) step();
  if (profile) {
    const profiledSteps = 10;
    const info = await tf.profile(() => {
      for (let i = 0; i < profiledSteps; i++) step();
    });
    const byKernel = new Map<string, number>();
    for (const k of info.kernels) {
      const ms = (k.kernelTimeMs as number) / profiledSteps;
      byKernel.set(k.name, (byKernel.get(k.name) ?? 0) + ms);
    }
    console.log(`per-kernel ms per step (mean of ${profiledSteps}), ${backend}:`);
    for (const [name, ms] of [...byKernel].sort((a, b) => b[1] - a[1]).slice(0, 12)) {
      console.log(`  ${name.padEnd(24)} ${ms.toFixed(2)}`);
    }
  }
  let steps = 0;
  let lastLoss = firstLoss;
  const cpuStart = process.cpuUsage();
  const started = performance.now();
  while (performance.now() - started < seconds * 1000) {
    lastLoss = step();
    steps++;
  }
  const wall = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuStart);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  tf.dispose([xs, labels]);
  model.dispose();
  optimizer.dispose();
  return {
    backend,
    model: modelName,
    batch,
    steps,
    samplesPerSecond: Math.round((steps * batch) / wall),
    samplesPerCpuSecond: Math.round((steps * batch) / cpuSeconds),
    firstLoss,
    lastLoss,
  };
}

setWasmPaths(new URL("./", import.meta.resolve("@tensorflow/tfjs-backend-wasm")).pathname);
const registered = registerWasmGradKernels({
  replaceBuiltins: !process.argv.includes("--builtins"),
});
const modelName = option("model", "cnn") as ModelName;
const batch = Number(option("batch", "32"));
const seconds = Number(option("seconds", "5"));
const results: Measurement[] = [];
for (const backend of option("backends", "wasm,cpu").split(",")) {
  results.push(
    await measure(backend, modelName, batch, seconds, process.argv.includes("--profile")),
  );
}
console.log(JSON.stringify({ registered, results }, null, 2));
