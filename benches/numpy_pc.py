"""NumPy predictive coding beside axon's: seconds per training epoch of the same network.

What it measures: one training epoch of standard PC (Whittington & Bogacz 2017) on full MNIST
in NumPy, 784-256-256-10 ReLU, Kaiming init, batch 64, T 20 inference steps at rate 0.1 from
the forward sweep, softmax cross-entropy output error, the Hebbian updates eps_l phi(x_{l-1})^T
into Adam 1e-3: the equations and settings of `scenarios/pc-mnist.toml`, written the way a
NumPy user would (batched matrix products on the BLAS NumPy ships with, float32). Each
inference step computes layers 2 and 3's predictions and both feedback products; layer 1's
prediction is computed once per batch (its input is clamped), as axon does. Then, in the same
process, it runs `axon bench pc scenarios/pc-mnist.toml --setups SETUP` (default the
scenario's own setup on this machine, `pinned:2:2` on 2 cores) and prints both with their
ratio and the CPU. The NumPy epoch also reports its test accuracy, to show the loop learns.

The issue's bar (issue 30): a `pc-mnist` epoch on the default setup <= 0.30x the NumPy
reference's time in the same run.

    cargo build --release
    python3 benches/numpy_pc.py [--threads 2] [--epochs 2] [--setup pinned:2:2] [--no-axon]
"""

import argparse
import gzip
import json
import os
import subprocess
import sys
import time

from machine import cpu_line


def idx(path, header):
    with gzip.open(path, "rb") as f:
        return f.read()[header:]


def mnist(np, data):
    def images(name):
        raw = np.frombuffer(idx(os.path.join(data, name), 16), np.uint8)
        return (raw.reshape(-1, 784).astype(np.float32) / 255.0)

    def labels(name):
        return np.frombuffer(idx(os.path.join(data, name), 8), np.uint8).astype(np.int64)

    return (images("train-images-idx3-ubyte.gz"), labels("train-labels-idx1-ubyte.gz"),
            images("t10k-images-idx3-ubyte.gz"), labels("t10k-labels-idx1-ubyte.gz"))


class Adam:
    def __init__(self, np, params, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8):
        self.np, self.lr, self.b1, self.b2, self.eps = np, lr, b1, b2, eps
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.t = 0

    def ascend(self, params, steps):
        """Adds the Adam step of each ascent direction (eps phi^T is -dLoss/dW)."""
        np = self.np
        self.t += 1
        c1, c2 = 1 - self.b1 ** self.t, 1 - self.b2 ** self.t
        for p, g, m, v in zip(params, steps, self.m, self.v):
            m *= self.b1
            m += (1 - self.b1) * g
            v *= self.b2
            v += (1 - self.b2) * g * g
            p += self.lr * (m / c1) / (np.sqrt(v / c2) + self.eps)


def softmax(np, z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def pc_epoch(np, net, opt, x_train, y_train, batch, steps, gamma, rng):
    W1, b1, W2, b2, W3, b3 = net
    order = rng.permutation(len(x_train))
    relu = lambda z: np.maximum(z, 0)  # noqa: E731
    for start in range(0, len(order), batch):
        idx_ = order[start:start + batch]
        a0, y = x_train[idx_], np.eye(10, dtype=np.float32)[y_train[idx_]]
        n = np.float32(len(idx_))
        # Forward sweep: values start at their predictions.
        mu1 = a0 @ W1 + b1
        x1 = mu1.copy()
        x2 = relu(x1) @ W2 + b2
        for _ in range(steps):
            a1, a2 = relu(x1), relu(x2)
            mu2 = a1 @ W2 + b2
            mu3 = a2 @ W3 + b3
            e1, e2, e3 = x1 - mu1, x2 - mu2, y - softmax(np, mu3)
            fb1, fb2 = e2 @ W2.T, e3 @ W3.T
            x1 += gamma * (-e1 + (x1 > 0) * fb1)
            x2 += gamma * (-e2 + (x2 > 0) * fb2)
        a1, a2 = relu(x1), relu(x2)
        e1 = x1 - mu1
        e2 = x2 - (a1 @ W2 + b2)
        e3 = y - softmax(np, a2 @ W3 + b3)
        grads = [a0.T @ e1 / n, e1.sum(0) / n, a1.T @ e2 / n, e2.sum(0) / n,
                 a2.T @ e3 / n, e3.sum(0) / n]
        opt.ascend(net, grads)


def accuracy(np, net, x, y):
    W1, b1, W2, b2, W3, b3 = net
    h = np.maximum(x @ W1 + b1, 0)
    h = np.maximum(h @ W2 + b2, 0)
    return float(((h @ W3 + b3).argmax(1) == y).mean())


def numpy_epochs(args):
    import numpy as np

    x_train, y_train, x_test, y_test = mnist(np, args.data)
    rng = np.random.default_rng(args.seed)
    sizes = [784, 256, 256, 10]
    net = []
    for a, b in zip(sizes, sizes[1:]):
        net += [(rng.standard_normal((a, b)) * np.sqrt(2.0 / a)).astype(np.float32),
                np.zeros(b, np.float32)]
    opt = Adam(np, net)
    times = []
    for _ in range(args.epochs):
        t0 = time.perf_counter()
        pc_epoch(np, net, opt, x_train, y_train, 64, 20, np.float32(0.1), rng)
        times.append(time.perf_counter() - t0)
    return times, accuracy(np, net, x_test, y_test), np.__version__


def axon_epochs(args):
    cmd = [args.binary, "bench", "pc", "scenarios/pc-mnist.toml", "--setups", args.setup,
           "--epochs", str(args.epochs), "--json"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr}")
    rows = json.loads(p.stdout)
    pc = next(r for r in rows if r["model"] == "pc")
    return pc["epoch_s"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=os.cpu_count(),
                    help="BLAS threads for NumPy (default: every core)")
    ap.add_argument("--epochs", type=int, default=2, help="epochs of each (the fastest counts)")
    ap.add_argument("--setup", default="pinned:2:2",
                    help="axon's EXECUTOR:WORKERS:SHARDS (default: pc-mnist's auto on 2 cores)")
    ap.add_argument("--binary", default="target/release/axon")
    ap.add_argument("--data", default="data/mnist")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-axon", action="store_true", help="time NumPy only")
    args = ap.parse_args()
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)

    print(cpu_line())
    np_times, acc, version = numpy_epochs(args)
    print(f"NumPy {version}, {args.threads} BLAS threads: epochs {', '.join(f'{t:.2f}' for t in np_times)} s"
          f" (test accuracy after {args.epochs}: {acc:.4f})")
    if args.no_axon:
        return
    ax_times = axon_epochs(args)
    print(f"axon {args.setup}: epochs {', '.join(f'{t:.2f}' for t in ax_times)} s")
    ratio = min(ax_times) / min(np_times)
    print(f"axon / NumPy (best epochs): {ratio:.2f}x  (bar <= 0.30x: {'holds' if ratio <= 0.30 else 'FAILS'})")


if __name__ == "__main__":
    main()
