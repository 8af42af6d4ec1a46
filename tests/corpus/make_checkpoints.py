#!/usr/bin/env python3
"""Writes the hostile checkpoint corpus (tests/corpus/checkpoints/).

Every file there is wrong for the scenarios tests/hostile_inputs.rs gives it to (a network
784-4-10, as `convert.checkpoint` of an snn-convert run and as `checkpoints/resume.safetensors`
of a `--resume` run): truncated, hostile (huge header length, bad JSON header, wrong dtype,
shape/data-length mismatch, NaN weights, missing tensors) or from another network.

    python3 tests/corpus/make_checkpoints.py RESUME OTHER_RESUME

RESUME is a real `checkpoints/resume.safetensors` of the 784-4-10 PC scenario in
tests/hostile_inputs.rs, OTHER_RESUME one of the same scenario with network.layers = [784, 3, 10]
(the resume variants are edits of RESUME; OTHER_RESUME is copied as it is).
"""

import json
import os
import random
import struct
import sys

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "checkpoints")


def pack(tensors, metadata=None, header_override=None):
    """safetensors bytes: tensors is a list of (name, dtype, shape, data bytes)."""
    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    offset = 0
    blob = b""
    for name, dtype, shape, data in tensors:
        header[name] = {
            "dtype": dtype,
            "shape": shape,
            "data_offsets": [offset, offset + len(data)],
        }
        offset += len(data)
        blob += data
    text = header_override if header_override is not None else json.dumps(header)
    raw = text.encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + blob


def f32(values):
    return struct.pack(f"<{len(values)}f", *values)


def mlp(widths, seed=1, edit=None):
    """An MLP checkpoint (layers.I.weight out x in, layers.I.bias out)."""
    rng = random.Random(seed)
    tensors = []
    for i, (n_in, n_out) in enumerate(zip(widths, widths[1:])):
        w = [rng.uniform(-0.1, 0.1) for _ in range(n_in * n_out)]
        b = [0.0] * n_out
        tensors.append([f"layers.{i}.weight", "F32", [n_out, n_in], w])
        tensors.append([f"layers.{i}.bias", "F32", [n_out], b])
    if edit:
        edit(tensors)
    return pack([(n, d, s, v if isinstance(v, bytes) else f32(v)) for n, d, s, v in tensors])


def read(path):
    data = open(path, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    meta = header.pop("__metadata__", None)
    body = data[8 + n :]
    tensors = []
    for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        s, e = info["data_offsets"]
        tensors.append([name, info["dtype"], info["shape"], body[s:e]])
    return meta, tensors


def resume(base, edit_meta=None, edit_tensors=None):
    meta, tensors = read(base)
    meta = dict(meta)
    if edit_meta:
        edit_meta(meta)
    if edit_tensors:
        tensors = edit_tensors(tensors)
    return pack([tuple(t) for t in tensors], meta)


def position(**changes):
    def edit(meta):
        p = json.loads(meta["position"])
        p.update(changes)
        meta["position"] = json.dumps(p)

    return edit


def main():
    base, other = sys.argv[1], sys.argv[2]
    os.makedirs(OUT, exist_ok=True)
    good = mlp([784, 4, 10])
    files = {}
    # The container.
    files["empty.safetensors"] = b""
    files["short-length.safetensors"] = b"\x10\x00\x00\x00"
    files["huge-header-length.safetensors"] = struct.pack("<Q", 2**63) + b"{}"
    files["header-length-past-end.safetensors"] = struct.pack("<Q", 4096) + b'{"a": 1}'
    files["header-over-100mb.safetensors"] = struct.pack("<Q", 200_000_000) + b"{}" * 8
    files["bad-json-header.safetensors"] = pack([], header_override='{"layers.0.weight": {"dtype": ')
    files["header-not-utf8.safetensors"] = struct.pack("<Q", 8) + b"\xff\xfe{}\x00\x00\x00\x00"
    files["header-is-array.safetensors"] = pack([], header_override="[1, 2, 3]")
    files["unknown-dtype.safetensors"] = pack(
        [], header_override='{"layers.0.weight": {"dtype": "F128", "shape": [1], "data_offsets": [0, 16]}}'
    )
    files["truncated.safetensors"] = good[: len(good) // 2]
    files["trailing-bytes.safetensors"] = good + b"\x00" * 12
    files["offsets-overlap.safetensors"] = pack(
        [],
        header_override=json.dumps(
            {
                "layers.0.weight": {"dtype": "F32", "shape": [4, 784], "data_offsets": [0, 12544]},
                "layers.0.bias": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
            }
        ),
    ) + b"\x00" * 12544
    files["shape-overflows.safetensors"] = pack(
        [],
        header_override=json.dumps(
            {"layers.0.weight": {"dtype": "F32", "shape": [2**40, 2**40], "data_offsets": [0, 16]}}
        ),
    ) + b"\x00" * 16
    files["shape-data-mismatch.safetensors"] = pack(
        [],
        header_override=json.dumps(
            {"layers.0.weight": {"dtype": "F32", "shape": [4, 784], "data_offsets": [0, 64]}}
        ),
    ) + b"\x00" * 64
    files["metadata-not-strings.safetensors"] = pack(
        [], header_override='{"__metadata__": {"format": 1}}'
    )

    # Network checkpoints (convert.checkpoint).
    def set_dtype(name, dtype, width):
        def edit(ts):
            for t in ts:
                if t[0] == name:
                    n = 1
                    for d in t[2]:
                        n *= d
                    t[1] = dtype
                    t[3] = b"\x00" * (n * width)

        return edit

    def drop(name):
        def edit(ts):
            ts[:] = [t for t in ts if t[0] != name]

        return edit

    def put(name, index, value):
        def edit(ts):
            for t in ts:
                if t[0] == name:
                    t[3][index] = value

        return edit

    def reshape(name, shape, values):
        def edit(ts):
            for t in ts:
                if t[0] == name:
                    t[2] = shape
                    t[3] = values

        return edit

    def rename(old, new):
        def edit(ts):
            for t in ts:
                if t[0] == old:
                    t[0] = new

        return edit

    files["mlp-weight-f64.safetensors"] = mlp([784, 4, 10], edit=set_dtype("layers.0.weight", "F64", 8))
    files["mlp-bias-f16.safetensors"] = mlp([784, 4, 10], edit=set_dtype("layers.1.bias", "F16", 2))
    files["mlp-weight-i32.safetensors"] = mlp([784, 4, 10], edit=set_dtype("layers.1.weight", "I32", 4))
    files["mlp-nan-weight.safetensors"] = mlp([784, 4, 10], edit=put("layers.0.weight", 1234, float("nan")))
    files["mlp-inf-bias.safetensors"] = mlp([784, 4, 10], edit=put("layers.1.bias", 3, float("inf")))
    files["mlp-missing-bias.safetensors"] = mlp([784, 4, 10], edit=drop("layers.1.bias"))
    files["mlp-missing-layer-0.safetensors"] = mlp(
        [784, 4, 10], edit=lambda ts: (drop("layers.0.weight")(ts), drop("layers.0.bias")(ts))
    )
    files["mlp-no-tensors.safetensors"] = pack([], {"axon": "{}"})
    files["mlp-weight-1d.safetensors"] = mlp(
        [784, 4, 10], edit=reshape("layers.1.weight", [40], [0.0] * 40)
    )
    files["mlp-weight-3d.safetensors"] = mlp(
        [784, 4, 10], edit=reshape("layers.1.weight", [10, 2, 2], [0.0] * 40)
    )
    files["mlp-bias-too-long.safetensors"] = mlp(
        [784, 4, 10], edit=reshape("layers.0.bias", [5], [0.0] * 5)
    )
    files["mlp-layers-do-not-chain.safetensors"] = mlp(
        [784, 4, 10], edit=reshape("layers.1.weight", [10, 5], [0.0] * 50)
    )
    files["mlp-zero-width.safetensors"] = mlp(
        [784, 4, 10],
        edit=lambda ts: (
            reshape("layers.0.weight", [0, 784], [])(ts),
            reshape("layers.0.bias", [0], [])(ts),
            reshape("layers.1.weight", [10, 0], [])(ts),
        ),
    )
    files["mlp-other-network.safetensors"] = mlp([784, 5, 10])
    files["mlp-other-input.safetensors"] = mlp([100, 4, 10])
    files["mlp-extra-layer.safetensors"] = mlp([784, 4, 10, 10])
    files["mlp-tied-names.safetensors"] = mlp([784, 4, 10], edit=rename("layers.1.weight", "layers.1.weight "))

    # Resume checkpoints (--resume DIR reads DIR/checkpoints/resume.safetensors).
    files["resume-truncated.safetensors"] = open(base, "rb").read()[:-100]
    files["resume-other-network.safetensors"] = open(other, "rb").read()
    files["resume-no-metadata.safetensors"] = resume(base, edit_meta=lambda m: m.clear())
    files["resume-wrong-format.safetensors"] = resume(
        base, edit_meta=lambda m: m.update(format="axon-resume-0")
    )
    files["resume-bad-position.safetensors"] = resume(
        base, edit_meta=lambda m: m.update(position="{\"epoch\": ")
    )
    files["resume-no-scalars.safetensors"] = resume(base, edit_meta=lambda m: m.pop("scalars"))
    files["resume-no-results.safetensors"] = resume(base, edit_meta=lambda m: m.pop("results"))
    files["resume-results-not-json.safetensors"] = resume(
        base, edit_meta=lambda m: m.update(results="{ not json")
    )
    files["resume-epoch-zero.safetensors"] = resume(base, edit_meta=position(epoch=0))
    files["resume-epoch-past-end.safetensors"] = resume(base, edit_meta=position(epoch=2**60))
    files["resume-batch-past-end.safetensors"] = resume(base, edit_meta=position(next_batch=2**60))
    files["resume-gap-too-long.safetensors"] = resume(
        base, edit_meta=position(grad_gap=[0.0] * 50, energy=[0.0] * 1000)
    )
    files["resume-negative-time.safetensors"] = resume(base, edit_meta=position(wall_s=-1.0))
    files["resume-huge-time.safetensors"] = resume(base, edit_meta=position(wall_s=1e300))
    files["resume-more-correct-than-seen.safetensors"] = resume(
        base, edit_meta=position(train_correct=500)
    )
    files["resume-negative-gap.safetensors"] = resume(base, edit_meta=position(grad_gap=[-1.0, 0.5]))
    files["resume-loss-out-of-range.safetensors"] = resume(
        base, edit_meta=lambda m: m.update(position=m["position"].replace("\"train_loss\":", "\"train_loss\":1e999,\"x\":"))
    )
    files["resume-bad-scalar.safetensors"] = resume(
        base,
        edit_meta=lambda m: m.update(
            scalars=json.dumps(
                {a: {k: "not-a-number" for k in s} for a, s in json.loads(m["scalars"]).items()}
            )
        ),
    )

    def resume_tensors(f):
        return lambda ts: [t for t in (f(list(t)) for t in ts) if t is not None]

    def nan_first(t):
        if t[0].endswith("/weight"):
            t[3] = struct.pack("<f", float("nan")) + t[3][4:]
        return t

    files["resume-nan-weight.safetensors"] = resume(base, edit_tensors=resume_tensors(nan_first))
    files["resume-weight-f64.safetensors"] = resume(
        base,
        edit_tensors=resume_tensors(
            lambda t: t if not t[0].endswith("/bias") else [t[0], "F64", t[2], t[3] + t[3]]
        ),
    )
    files["resume-weight-u8.safetensors"] = resume(
        base,
        edit_tensors=resume_tensors(
            lambda t: t if not t[0].endswith("/bias") else [t[0], "U8", [len(t[3])], t[3]]
        ),
    )
    files["resume-name-without-actor.safetensors"] = resume(
        base, edit_tensors=resume_tensors(lambda t: [t[0].replace("/", "."), *t[1:]])
    )
    files["resume-missing-weights.safetensors"] = resume(
        base, edit_tensors=resume_tensors(lambda t: None if t[0].endswith("/weight") else t)
    )
    files["resume-short-weights.safetensors"] = resume(
        base,
        edit_tensors=resume_tensors(
            lambda t: t if not t[0].endswith("/weight") else [t[0], t[1], [t[2][0] - 1], t[3][:-4]]
        ),
    )
    files["resume-missing-actor.safetensors"] = resume(
        base,
        edit_meta=lambda m: m.update(
            scalars=json.dumps({a: s for a, s in json.loads(m["scalars"]).items() if a != "layer-2.0"})
        ),
        edit_tensors=resume_tensors(lambda t: None if t[0].startswith("layer-2.0/") else t),
    )
    files["resume-network-checkpoint.safetensors"] = good

    for name, data in files.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    print(f"{len(files)} files in {OUT}")


if __name__ == "__main__":
    main()
