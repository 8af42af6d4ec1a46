#!/usr/bin/env python3
"""The figures axon measures of itself, in one machine-stamped table.

Runs the release binary's benchmarks and reference runs (no peer needed) and writes
docs/figures/report.md (or --out): the machine (CPU model, cores, vector extensions), the date,
the commit, and one row per figure with the exact command that produced it. README and docs
cite this table; rerun it on a new machine rather than editing a figure by hand.

    cargo build --release && python3 benches/report.py            # about 10 minutes on 2 cores
    python3 benches/report.py --quick                             # smaller runs, for a check

Peer figures (PyTorch, Brian2, NEST, snnTorch) come from the other scripts in benches/, each
printing the peer and axon side by side; their last results are recorded in docs/figures.md.
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AXON = os.path.join(ROOT, "target", "release", "axon")


def machine():
    """CPU model, logical cores and the widest vector extension, from /proc/cpuinfo."""
    model, flags = platform.processor() or "unknown CPU", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    model = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
    except OSError:
        pass
    vector = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return f"{model}, {os.cpu_count()} logical cores, {vector}"


def commit():
    try:
        out = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return out + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def axon(args):
    """Runs `axon ARGS` in the repository; its stdout. Fails loudly with what it printed."""
    cmd = [AXON] + args
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"report: `axon {' '.join(args)}` failed ({p.returncode}):\n{p.stderr[-2000:]}")
    return p.stdout


def run_scenario(name, sets, tmp):
    """`axon run scenarios/NAME.toml --quiet`; its results.json."""
    out = os.path.join(tmp, f"{name}-{len(os.listdir(tmp))}")
    args = ["run", f"scenarios/{name}.toml", "--quiet", "--out", out]
    for s in sets:
        args += ["--set", s]
    axon(args)
    with open(os.path.join(out, "results.json")) as f:
        results = json.load(f)
    return results, " ".join(["axon", "run", f"scenarios/{name}.toml"] + [f"--set {s}" for s in sets])


def rows_bp(quick):
    rows = []
    for opt in ("sgd", "adam"):
        args = ["bench", "bp", "--threads", "1", "--optimizer", opt, "--json"]
        if quick:
            args += ["--epochs", "1", "--train-limit", "6000"]
        r = json.loads(axon(args))
        rows.append((f"BP epoch, 784-256-256-10, {opt}, 1 thread", f"{r['median_s']:.3f} s",
                     "axon " + " ".join(args[:-1])))
    return rows


def auto_layer_shards(scenario, cores):
    """The shards `runtime.executor = "auto"` gives a layer-actor scenario: the workers, at
    most one per 128 neurons of the narrowest hidden layer (`ROWS_PER_SHARD`)."""
    import tomllib
    with open(os.path.join(ROOT, "scenarios", f"{scenario}.toml"), "rb") as f:
        layers = tomllib.load(f)["network"]["layers"]
    narrowest = min(layers[1:-1]) if len(layers) > 2 else 0
    return max(1, min(cores, narrowest // 128))


def rows_setups(quick):
    """Learning: the default setup (auto: pinned on every core, layers whole) against the
    explicit ones, one epoch per setup (issue 26's check on 2 cores)."""
    rows = []
    limit = ["--set", "data.train_limit=12000"] if quick else []
    cores = os.cpu_count()
    for scen in ("quickstart", "pc-mnist", "zil-mnist", "ep-mnist"):
        setups = f"tokio:{cores}:1,pinned:{cores}:1,pinned:{cores}:{cores}"
        args = ["bench", "pc", f"scenarios/{scen}.toml", "--setups", setups, "--json",
                "--set", "compare.check_gradients=false"] + limit
        for r in json.loads(axon(args)):
            if r["executor"] == "-":
                continue
            label = f"{r['executor']}:{r['workers']}:{r['shards']}"
            if (r["executor"], r["shards"]) == ("pinned", auto_layer_shards(scen, cores)):
                label += " (auto)"
            rows.append((f"{scen}: one epoch of its actors, {label}", f"{r['best_s']:.2f} s",
                         "axon " + " ".join(a for a in args if a != "--json")))
    return rows


def rows_spiking(quick, tmp):
    """Spiking: each scenario on the default setup (auto) and on the setup it named before."""
    rows = []
    cores = os.cpu_count()
    short = ["cuba.duration_ms=200"] if quick else []
    cases = [
        ("cuba", ["runtime.executor=tokio", "runtime.workers=1", "runtime.shards=1"], short),
        ("cuba-actors", ["runtime.executor=pinned", "runtime.workers=1"], short),
        ("microcircuit-small", ["runtime.executor=pinned", "runtime.workers=1", "runtime.shards=1"],
         ["microcircuit.duration_ms=200"] if quick else []),
    ]
    for scen, before, extra in cases:
        for label, sets in (("auto", extra), ("before: " + " ".join(before), before + extra)):
            r, cmd = run_scenario(scen, sets, tmp)
            s, setup = r["snn"], r.get("setup") or {}
            where = f"{setup.get('executor')}:{setup.get('workers')}:{setup.get('shards')}"
            rows.append((f"{scen}, {label} ({where})",
                         f"{s['wall_s']:.3f} s wall, {s['spikes']} spikes", cmd))
    args = ["bench", "scale", "--executors", "tokio,pinned", "--workers", f"1,{cores}",
            "--workloads", "cuba,cuba40k,cuba-neurons", "--json", os.path.join(tmp, "scale.json")]
    axon(args)
    with open(os.path.join(tmp, "scale.json")) as f:
        for r in json.load(f):
            rows.append((f"bench scale {r['workload']}, {r['executor']} on {r['workers']} workers",
                         f"{r['wall_s']:.3f} s ({r['speedup']:.2f}x of 1 worker)",
                         "axon " + " ".join(args[:-2])))
    return rows


def rows_runs(quick, tmp):
    rows = []
    epochs = "1" if quick else "3"
    r, cmd = run_scenario("quickstart", [f"train.epochs={epochs}"], tmp)
    m = r["models"]
    setup = r.get("setup", {})
    rows.append((f"quickstart test accuracy, {epochs} epochs (bp / pc)",
                 f"{m['bp']['final']['test_accuracy']:.4f} / {m['pc']['final']['test_accuracy']:.4f}"
                 f"; pc {m['pc']['final']['wall_s']:.2f} s on {setup.get('executor')}:"
                 f"{setup.get('workers')}:{setup.get('shards')}", cmd))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "figures", "report.md"))
    ap.add_argument("--quick", action="store_true", help="smaller runs (a check that it works)")
    a = ap.parse_args()
    if not os.access(AXON, os.X_OK):
        sys.exit("report: build the release binary first: cargo build --release")
    with tempfile.TemporaryDirectory() as tmp:
        rows = rows_bp(a.quick) + rows_runs(a.quick, tmp) + rows_setups(a.quick) \
            + rows_spiking(a.quick, tmp)
    lines = [
        "# axon's own figures, measured",
        "",
        f"Machine: {machine()}. Date: {datetime.date.today()}. Commit: {commit()}.",
        f"Written by `python3 benches/report.py{' --quick' if a.quick else ''}`; rerun it rather than"
        " edit a figure. Absolute times move 3-10x between machines: compare rows of one table.",
        "",
        "| figure | value | command |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {f} | {v} | `{c}` |" for f, v, c in rows]
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
