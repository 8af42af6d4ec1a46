"""snnTorch <-> axon through NIR: the peer check of `axon.from_nir` and `axon.to_nir`.

1. Import: a feed-forward 784-128-10 `Leaky` network and a recurrent one (784-128 `RLeaky`,
   then 128-10 `Leaky`) are built in snnTorch (seeded random weights, x3 so that they spike),
   exported with `snntorch.export_to_nir`, run on axon from the NIR file, and compared spike
   for spike with snnTorch on the first 100 MNIST test images over 25 steps (pixels / 255 as
   a constant input current). The snnTorch neurons reset to zero without delay
   (`reset_mechanism="zero", reset_delay=False`): the semantics a NIR LIF has and snnTorch's
   importer runs (snnTorch's default subtract reset is not representable in NIR).
2. Round trip: axon's converted SNN (an `snn-convert` run folder) exported with
   `axon.to_nir`, loaded by `snntorch.import_nir.import_from_nir`, classifies the test set at
   the run's largest tick count; printed beside axon's own accuracy at that count.

    python3 -m venv /tmp/nirvenv && /tmp/nirvenv/bin/pip install torch snntorch nir ./python
    /tmp/nirvenv/bin/python benches/nir_snntorch.py [--convert-run runs/snn-convert-...]
"""

import argparse
import contextlib
import io
import json
import os
import tempfile
import warnings

import numpy as np
import torch
import nir
import snntorch as snn
from snntorch import utils as snnutils
from snntorch.export_nir import export_to_nir
from snntorch.import_nir import import_from_nir

import axon

warnings.filterwarnings("ignore")
T, B = 25, 100


def mnist_test(n, root="data/mnist"):
    """The first n test images (pixels / 255) and labels, read from the IDX files."""
    import gzip

    def read(name):
        path = os.path.join(root, name)
        opener = open if os.path.exists(path) else gzip.open
        with opener(path if os.path.exists(path) else path + ".gz", "rb") as f:
            return f.read()

    images = np.frombuffer(read("t10k-images-idx3-ubyte"), np.uint8, offset=16)
    labels = np.frombuffer(read("t10k-labels-idx1-ubyte"), np.uint8, offset=8)
    return images.reshape(-1, 784)[:n].astype(np.float32) / 255.0, labels[:n]


def leaky(n):
    return snn.Leaky(
        beta=torch.full((n,), 0.9),
        threshold=torch.ones(n),
        reset_mechanism="zero",
        reset_delay=False,
        init_hidden=True,
    )


def build(recurrent):
    torch.manual_seed(0)
    if recurrent:
        hidden = snn.RLeaky(
            beta=0.9,
            linear_features=128,
            all_to_all=True,
            reset_mechanism="zero",
            reset_delay=False,
            init_hidden=True,
        )
    else:
        hidden = leaky(128)
    net = torch.nn.Sequential(torch.nn.Linear(784, 128), hidden, torch.nn.Linear(128, 10), leaky(10))
    with torch.no_grad():
        for m in net:
            if type(m) is torch.nn.Linear:
                m.weight.mul_(3.0)
                m.bias.mul_(3.0)
    return net


@torch.no_grad()
def run_snntorch(net, x):
    snnutils.reset(net)
    return torch.stack([net(torch.from_numpy(x[t])) for t in range(x.shape[0])]).numpy()


def compare(name, recurrent, x):
    net = build(recurrent)
    ours = run_snntorch(net, x)
    with tempfile.TemporaryDirectory() as d, contextlib.redirect_stdout(io.StringIO()):
        path = os.path.join(d, f"{name}.nir")
        nir.write(path, export_to_nir(net, torch.from_numpy(x[0]), ignore_dims=[0]))
        got = axon.from_nir(path, x).output
    same = float((got == ours).mean())
    return {
        "network": name,
        "snntorch_spikes": int(ours.sum()),
        "axon_spikes": int(got.sum()),
        "agreement": same,
        "differing_entries": int((got != ours).sum()),
    }


@torch.no_grad()
def round_trip(run_dir):
    results = json.load(open(os.path.join(run_dir, "results.json")))
    points = results["conversion"]
    ticks = max(p["ticks"] for p in points)
    axon_acc = next(p["test_accuracy"] for p in points if p["ticks"] == ticks)
    with tempfile.TemporaryDirectory() as d, contextlib.redirect_stdout(io.StringIO()):
        path = os.path.join(d, "snn.nir")
        axon.to_nir(run_dir, path)
        net = import_from_nir(nir.read(path))
    images, labels = mnist_test(10000)
    correct = 0
    for start in range(0, len(images), 1000):
        x = torch.from_numpy(images[start : start + 1000])
        snnutils.reset(net)  # the imported Leaky layers keep their membranes between calls
        state, counts = None, 0
        for _ in range(ticks):
            out, state = net(x, state)
            counts = counts + out
        correct += int((counts.argmax(1).numpy() == labels[start : start + 1000]).sum())
    return {"ticks": ticks, "axon_accuracy": axon_acc, "snntorch_accuracy": correct / len(images)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--convert-run", help="an snn-convert run folder for the round trip")
    args = ap.parse_args()
    images, _ = mnist_test(B)
    x = np.repeat(images[None], T, axis=0)
    rows = [compare("feed-forward", False, x), compare("recurrent", True, x)]
    for r in rows:
        print(json.dumps(r))
    if args.convert_run:
        print(json.dumps(round_trip(args.convert_run)))


if __name__ == "__main__":
    main()
