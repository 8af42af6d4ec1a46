"""A run from Python against the same run from the CLI (`axon run`), end to end.

Alternates `axon run SCENARIO --set ...` (a subprocess, timed from launch to exit) and
`axon.run(SCENARIO, set=...)` in this process, `--repeats` times each, and prints the medians
and their ratio. The Python figure leaves out the interpreter's own start (a notebook has it
running already); the CLI figure includes the binary's start.

    .venv/bin/python benches/python_overhead.py [--scenario scenarios/quickstart.toml]
"""

import argparse
import statistics
import subprocess
import tempfile
import time

import axon


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenario", default="scenarios/quickstart.toml")
    ap.add_argument("--set", action="append", default=["train.epochs=1", "compare.baseline=\"none\""])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--binary", default="target/release/axon")
    args = ap.parse_args()
    sets = dict(s.split("=", 1) for s in args.set)
    py_sets = {k: (v.strip('"') if v.startswith('"') else float(v) if "." in v else int(v)) for k, v in sets.items()}
    cli, py = [], []
    with tempfile.TemporaryDirectory() as d:
        for i in range(args.repeats):
            cmd = [args.binary, "run", args.scenario, "-q", "--out", f"{d}/cli{i}"]
            for s in args.set:
                cmd += ["--set", s]
            t = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            cli.append(time.perf_counter() - t)
            t = time.perf_counter()
            axon.run(args.scenario, set=py_sets, out=f"{d}/py{i}", progress=False)
            py.append(time.perf_counter() - t)
    c, p = statistics.median(cli), statistics.median(py)
    print(f"CLI {c:.3f} s, Python {p:.3f} s (medians of {args.repeats}): Python / CLI = {p / c:.3f}")


if __name__ == "__main__":
    main()
