#!/usr/bin/env python3
"""PyTorch reference benchmark: the PyTorch peer for `axon bench bp`.

Trains the same backprop baseline as `axon bench bp` so that accuracy and
speed can be compared against an established framework on the same machine:

  * MNIST read straight from the gzipped IDX files (default: data/mnist at the
    repo root, override with --data); pixels scaled to [0, 1], nothing else.
  * MLP 784-256-256-10 with ReLU; every weight drawn from
    N(0, sqrt(2 / fan_in)) (Kaiming normal), biases zero.
  * Softmax cross-entropy, mean over the batch.
  * SGD (plain, no momentum) or Adam (PyTorch defaults apart from --lr);
    training set reshuffled each epoch by a seeded generator; the last
    partial batch is kept.
  * Learning rate constant, or (--schedule cosine) axon's `train.schedule =
    "cosine"`: per batch, lr_t = lr * (1 + cos(pi t / T)) / 2 for batch step t
    (0-based, counted over the whole run) of T = batches per epoch x epochs,
    so the first batch uses lr and the rate decays towards 0 after the last.

Per epoch it prints train loss, train accuracy (both accumulated over the
epoch's batches, in training mode), test accuracy and the wall seconds spent
training (evaluation excluded). The last line is a JSON summary.

Run (needs torch and numpy, e.g. in a venv outside the repo):

    python3 benches/pytorch_bp.py --optimizer sgd  --lr 0.05 --epochs 10 --threads 1
    python3 benches/pytorch_bp.py --optimizer adam --lr 1e-3 --epochs 10 --threads 1
    python3 benches/pytorch_bp.py --optimizer sgd  --lr 0.05 --epochs 2  --threads 2

The peer of scenarios/bp-mnist.toml (Adam, lr 1e-3, cosine schedule, 10 epochs):

    python3 benches/pytorch_bp.py --optimizer adam --lr 1e-3 --schedule cosine --epochs 10 --threads 1
"""

import argparse
import gzip
import json
import math
import os
import struct
import time

import numpy as np
import torch

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read_idx(path, magic):
    with gzip.open(path, "rb") as f:
        data = f.read()
    (got,) = struct.unpack(">I", data[:4])
    if got != magic:
        raise ValueError(f"{path}: magic {got:#x}, expected {magic:#x}")
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(dims)):
        raise ValueError(f"{path}: {arr.size} bytes of data, header says {dims}")
    return arr.reshape(dims)


def load_mnist(root, kind):
    images = read_idx(os.path.join(root, f"{kind}-images-idx3-ubyte.gz"), 0x803)
    labels = read_idx(os.path.join(root, f"{kind}-labels-idx1-ubyte.gz"), 0x801)
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{kind}: {images.shape[0]} images but {labels.shape[0]} labels")
    x = torch.from_numpy(images.reshape(images.shape[0], -1).astype(np.float32) / 255.0)
    y = torch.from_numpy(labels.astype(np.int64))
    return x, y


def cosine_factor(step, total):
    """axon's cosine schedule (src/math/optimizer.rs, Schedule::Cosine) as a factor of the
    base rate at batch step `step` (0-based) of `total`: (1 + cos(pi step / total)) / 2."""
    return 0.5 * (1.0 + math.cos(math.pi * step / max(total, 1)))


def build_model(sizes):
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        lin = torch.nn.Linear(fan_in, fan_out)
        torch.nn.init.normal_(lin.weight, 0.0, math.sqrt(2.0 / fan_in))
        torch.nn.init.zeros_(lin.bias)
        layers.append(lin)
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


@torch.no_grad()
def accuracy(model, x, y, batch=1000):
    model.eval()
    correct = 0
    for i in range(0, x.shape[0], batch):
        correct += (model(x[i : i + batch]).argmax(1) == y[i : i + batch]).sum().item()
    model.train()
    return correct / x.shape[0]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=os.path.join(REPO_ROOT, "data", "mnist"))
    p.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd")
    p.add_argument("--lr", type=float, default=None, help="default 0.05 (sgd) / 1e-3 (adam)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--train-limit", type=int, default=None)
    p.add_argument(
        "--schedule",
        choices=["constant", "cosine"],
        default="constant",
        help="learning-rate schedule; cosine decays per batch as axon's train.schedule = cosine",
    )
    args = p.parse_args()
    if args.lr is None:
        args.lr = 0.05 if args.optimizer == "sgd" else 1e-3

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    x_train, y_train = load_mnist(args.data, "train")
    x_test, y_test = load_mnist(args.data, "t10k")
    if args.train_limit is not None:
        x_train, y_train = x_train[: args.train_limit], y_train[: args.train_limit]
    n = x_train.shape[0]

    model = build_model([784, 256, 256, 10])
    if args.optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=args.lr)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    sched = None
    if args.schedule == "cosine":
        total_steps = -(-n // args.batch_size) * args.epochs
        # LambdaLR sets lr * factor(0) = lr now and lr * factor(t) after the t-th sched.step().
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: cosine_factor(t, total_steps))
    loss_fn = torch.nn.CrossEntropyLoss()  # softmax + NLL, mean over batch
    shuffle = torch.Generator().manual_seed(args.seed)

    print(
        f"# torch {torch.__version__}, threads={torch.get_num_threads()}, "
        f"optimizer={args.optimizer}, lr={args.lr}, schedule={args.schedule}, batch={args.batch_size}, "
        f"seed={args.seed}, train={n}, test={x_test.shape[0]}",
        flush=True,
    )
    print("epoch  train_loss  train_acc  test_acc  train_s", flush=True)
    epoch_secs = []
    test_acc = float("nan")
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        perm = torch.randperm(n, generator=shuffle)
        loss_sum = torch.zeros(())
        correct = torch.zeros((), dtype=torch.int64)
        for i in range(0, n, args.batch_size):
            idx = perm[i : i + args.batch_size]
            xb, yb = x_train[idx], y_train[idx]
            logits = model(xb)
            loss = loss_fn(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            with torch.no_grad():
                loss_sum += loss.detach() * idx.shape[0]
                correct += (logits.argmax(1) == yb).sum()
        secs = time.perf_counter() - t0
        epoch_secs.append(secs)
        test_acc = accuracy(model, x_test, y_test)
        print(
            f"{epoch:5d}  {loss_sum.item() / n:10.4f}  {correct.item() / n:9.4f}  "
            f"{test_acc:8.4f}  {secs:7.2f}",
            flush=True,
        )

    print(
        json.dumps(
            {
                "framework": "pytorch",
                "torch": torch.__version__,
                "optimizer": args.optimizer,
                "lr": args.lr,
                "schedule": args.schedule,
                "epochs": args.epochs,
                "batch_size": args.batch_size,
                "threads": args.threads,
                "seed": args.seed,
                "train": n,
                "final_test_accuracy": test_acc,
                "mean_epoch_seconds": sum(epoch_secs) / len(epoch_secs) if epoch_secs else None,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
