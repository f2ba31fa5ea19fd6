"""PyTorch CPU training throughput for fedproof's model presets, the reference that
benchmarks/training.ts compares the TensorFlow.js backends against.

    /usr/bin/python3 benchmarks/torch/train_throughput.py --model mlp --threads 1 \
        [--batch 32] [--seconds 5] [--records 8192] [--lr 0.05] [--seed 1]

Debian's python3-torch imports from /usr/bin/python3 only. Trains the same architecture as
protocol/model/presets.ts (same layer sizes, 'same' padding for the conv presets) with
plain minibatch SGD on Fashion-MNIST, reading the loss back after every batch as fedproof's
trainLocal does, and prints one JSON object: samples/s, samples per CPU-second and the
process's peak resident set size.
"""

import argparse
import gzip
import json
import os
import resource
import struct
import sys
import time

import numpy as np
import torch
from torch import nn

FASHION_MNIST = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    with gzip.open(path, "rb") as handle:
        data = handle.read()
    magic, count = struct.unpack(">II", data[:8])
    dimensions = magic & 0xFF
    shape = struct.unpack(">" + "I" * dimensions, data[4 : 4 + 4 * dimensions])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dimensions).reshape(shape), count


def load_fashion_mnist(records):
    images, _ = read_idx(os.path.join(FASHION_MNIST, "train-images-idx3-ubyte.gz"))
    labels, _ = read_idx(os.path.join(FASHION_MNIST, "train-labels-idx1-ubyte.gz"))
    x = torch.from_numpy(images[:records].astype(np.float32) / 255.0).unsqueeze(1)
    y = torch.from_numpy(labels[:records].astype(np.int64))
    return x, y


def current_rss_mib():
    with open("/proc/self/statm") as handle:
        resident_pages = int(handle.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def build_model(name, classes=10):
    """The presets of protocol/model/presets.ts, NCHW instead of tfjs's NHWC."""
    if name == "logreg":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, classes))
    if name == "mlp":
        return nn.Sequential(
            nn.Flatten(),
            nn.Linear(784, 200),
            nn.ReLU(),
            nn.Linear(200, 200),
            nn.ReLU(),
            nn.Linear(200, classes),
        )
    if name in ("cnn", "cnn-fedavg"):
        first, second = (8, 16) if name == "cnn" else (32, 64)
        layers = [
            nn.Conv2d(1, first, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(first, second, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
        ]
        if name == "cnn":
            layers.append(nn.Linear(7 * 7 * second, classes))
        else:
            layers += [nn.Linear(7 * 7 * second, 512), nn.ReLU(), nn.Linear(512, classes)]
        return nn.Sequential(*layers)
    raise SystemExit(f"unknown model {name!r}: expected logreg, mlp, cnn or cnn-fedavg")


def train(model, optimizer, x, y, batch, samples, generator):
    """SGD over `samples` records (whole epochs of shuffled x, then a partial one)."""
    loss_fn = nn.CrossEntropyLoss()
    done, loss_sum = 0, 0.0
    while done < samples:
        order = torch.randperm(x.shape[0], generator=generator)
        for start in range(0, x.shape[0], batch):
            if done >= samples:
                break
            index = order[start : start + batch]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[index]), y[index])
            loss.backward()
            optimizer.step()
            # Read back every batch, as trainLocal does: it keeps the comparison step for step.
            loss_sum += loss.item() * index.shape[0]
            done += index.shape[0]
    return done, loss_sum / max(done, 1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--records", type=int, default=8192)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    x, y = load_fashion_mnist(args.records)
    rss_before_model = current_rss_mib()
    model = build_model(args.model)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr)

    # Warm-up (allocator, kernel selection), then a probe that sizes the timed run.
    train(model, optimizer, x, y, args.batch, args.batch, generator)
    started = time.perf_counter()
    probe_samples, _ = train(model, optimizer, x, y, args.batch, 4 * args.batch, generator)
    probe_rate = probe_samples / (time.perf_counter() - started)
    batches = max(1, int(probe_rate * args.seconds / args.batch))
    wall_start, cpu_start = time.perf_counter(), time.process_time()
    samples, loss = train(model, optimizer, x, y, args.batch, batches * args.batch, generator)
    seconds = time.perf_counter() - wall_start
    cpu_seconds = time.process_time() - cpu_start
    json.dump(
        {
            "framework": "pytorch",
            "version": torch.__version__,
            "model": args.model,
            "threads": torch.get_num_threads(),
            "parameters": sum(p.numel() for p in model.parameters()),
            "batchSize": args.batch,
            "samples": samples,
            "seconds": seconds,
            "samplesPerSecond": samples / seconds,
            "samplesPerCpuSecond": samples / cpu_seconds if cpu_seconds > 0 else None,
            "loss": loss,
            "rssBeforeModelMiB": rss_before_model,
            # Linux reports ru_maxrss in KiB.
            "peakRssMiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        },
        sys.stdout,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
