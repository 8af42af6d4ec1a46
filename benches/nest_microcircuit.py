"""The NEST peer for the cortical microcircuit (`scenarios/microcircuit.toml`,
`scenarios/microcircuit-small.toml`, `axon run`).

The Potjans & Diesmann (2014) model exactly as NEST's published PyNEST example builds it: the
`Potjans_2014` example of nest-simulator up to 3.9 (removed from the NEST tree for 3.10, which now
points to INM-6/microcircuit-PD14-model, whose PyNEST package has the same network_params,
sim_params and stimulus_params values and the same network.py). Copied from those files:
8 populations of `iaf_psc_exp` (C_m 250 pF, tau_m 10 ms, tau_syn 0.5 ms, t_ref 2 ms,
E_L = V_reset = -65 mV, V_th -50 mV), dt 0.1 ms, rng_seed 55, `fixed_total_number` synapses per
projection (autapses and multapses allowed), PSP 0.15 mV -> 87.81 pA (L4E -> L2/3E doubled,
g = -4), weights normal (relative sd 0.1, `nest.math.redraw` to keep their sign), delays normal
(1.5 ms E / 0.75 ms I, relative sd 0.5, redrawn below half a step), Poisson background
(`poisson_input` True: one `poisson_generator` per population at 8 Hz x K_ext, all-to-all, delay
1.5 ms), thalamic and DC stimulus off, optimized initial potentials; `--scale` scales neurons and
in-degrees together (N_scaling = K_scaling) with the example's compensation (weights /
sqrt(scale), DC making up the lost mean input). Two departures, neither in the model: spikes are
recorded to memory (the example writes ASCII files), and the run is one `--sim-ms` stretch with
rates after `--transient-ms` (the example simulates 500 ms of presimulation and then 1000 ms),
as axon measures.

Threads: NEST stores at most 2^27 - 2 connections per virtual process and synapse model, so the
full-scale network (298,880,968 synapses) needs at least 3 virtual processes; the example's
sim_params uses `local_num_threads` 4, and so does this script at scales above 0.5 (on a 2-core
machine the 4 threads share 2 cores). Below that it uses 1 thread unless `--threads` says more.

Timing: build = ResetKernel, Create, Connect and `nest.Prepare()` (where NEST builds its
presynaptic connection infrastructure; the example times it the same way); loop = `nest.Run()`
of the whole `--sim-ms` (Python's clock around it; NEST's own `time_simulate` is printed too);
peak RSS = `resource.getrusage` of this process (Python, NumPy and NEST together).

    python3 -m venv /tmp/nestvenv && /tmp/nestvenv/bin/pip install nest-simulator numpy
    /tmp/nestvenv/bin/python benches/nest_microcircuit.py --scale 0.1
    /tmp/nestvenv/bin/python benches/nest_microcircuit.py --scale 0.1 --side-by-side
    /tmp/nestvenv/bin/python benches/nest_microcircuit.py --scale 1 --side-by-side --json nest.json

`--side-by-side` first runs axon on the same machine (`target/release/axon run` on
`scenarios/microcircuit-small.toml` at scale 0.1, `scenarios/microcircuit.toml` otherwise, with
`--set microcircuit.scale/duration_ms/transient_ms` matching and `runtime.workers` =
`runtime.shards` = the smaller of NEST's threads and the machine's cores, unless
`--axon-workers`), reads its results.json and prints one table of both. axon runs first so that
its memory is free before NEST builds (NEST holds about 15 GB at full scale).
"""

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

POPS = ["L2/3E", "L2/3I", "L4E", "L4I", "L5E", "L5I", "L6E", "L6I"]

# network_params.py of the example (net_dict), values as published.
NET = {
    "full_num_neurons": np.array([20683, 5834, 21915, 5479, 4850, 1065, 14395, 2948]),
    "full_mean_rates": np.array([0.903, 2.965, 4.414, 5.876, 7.569, 8.633, 1.105, 7.829]),
    "conn_probs": np.array([
        [0.1009, 0.1689, 0.0437, 0.0818, 0.0323, 0.0, 0.0076, 0.0],
        [0.1346, 0.1371, 0.0316, 0.0515, 0.0755, 0.0, 0.0042, 0.0],
        [0.0077, 0.0059, 0.0497, 0.135, 0.0067, 0.0003, 0.0453, 0.0],
        [0.0691, 0.0029, 0.0794, 0.1597, 0.0033, 0.0, 0.1057, 0.0],
        [0.1004, 0.0622, 0.0505, 0.0057, 0.0831, 0.3726, 0.0204, 0.0],
        [0.0548, 0.0269, 0.0257, 0.0022, 0.06, 0.3158, 0.0086, 0.0],
        [0.0156, 0.0066, 0.0211, 0.0166, 0.0572, 0.0197, 0.0396, 0.2252],
        [0.0364, 0.001, 0.0034, 0.0005, 0.0277, 0.008, 0.0658, 0.1443],
    ]),
    "PSP_exc_mean": 0.15,
    "weight_rel_std": 0.1,
    "g": -4,
    "delay_exc_mean": 1.5,
    "delay_inh_mean": 0.75,
    "delay_rel_std": 0.5,
    "K_ext": np.array([1600, 1500, 2100, 1900, 2000, 1900, 2900, 2100]),
    "bg_rate": 8.0,
    "delay_poisson": 1.5,
    "V0_mean": [-68.28, -63.16, -63.33, -63.45, -63.11, -61.66, -66.72, -61.43],
    "V0_std": [5.36, 4.57, 4.74, 4.94, 4.94, 4.55, 5.46, 4.48],
    "E_L": -65.0,
    "V_th": -50.0,
    "V_reset": -65.0,
    "C_m": 250.0,
    "tau_m": 10.0,
    "tau_syn": 0.5,
    "t_ref": 2.0,
}
RESOLUTION = 0.1  # sim_params.py: sim_resolution
MAX_PER_VP = 2**27 - 2  # NEST: connections per virtual process and synapse model


def psc_over_psp(c_m, tau_m, tau_syn):
    """helpers.postsynaptic_potential_to_current of the example."""
    sub = 1.0 / (tau_syn - tau_m)
    pre = tau_m * tau_syn / c_m * sub
    frac = (tau_m / tau_syn) ** sub
    return 1.0 / (pre * (frac**tau_m - frac**tau_syn))


def derive(scale):
    """Network.__derive_parameters of the example with Poisson input on and N_scaling =
    K_scaling = scale: neurons, synapses, external in-degrees, weights (pA) and DC (pA)."""
    full_n = NET["full_num_neurons"]
    prod = np.outer(full_n, full_n)
    full_syn = np.log(1.0 - NET["conn_probs"]) / np.log((prod - 1.0) / prod)
    n = np.round(full_n * scale).astype(int)
    syn = np.round(full_syn * scale * scale).astype(int)
    k_ext = np.round(NET["K_ext"] * scale).astype(int)
    psp = np.zeros((8, 8))
    psp[:, 0::2] = NET["PSP_exc_mean"]
    psp[:, 1::2] = NET["PSP_exc_mean"] * NET["g"]
    psp[0, 2] = 2.0 * NET["PSP_exc_mean"]
    delay = np.zeros((8, 8))
    delay[:, 0::2] = NET["delay_exc_mean"]
    delay[:, 1::2] = NET["delay_inh_mean"]
    factor = psc_over_psp(NET["C_m"], NET["tau_m"], NET["tau_syn"])
    w = psp * factor
    w_ext = NET["PSP_exc_mean"] * factor
    dc = np.zeros(8)
    if scale != 1:
        # helpers.adjust_weights_and_input_to_synapse_scaling
        indeg = full_syn / full_n[:, np.newaxis]
        rec = np.sum(w * indeg * NET["full_mean_rates"], axis=1)
        ext = w_ext * NET["K_ext"] * NET["bg_rate"]
        dc = dc + 0.001 * NET["tau_syn"] * (1.0 - np.sqrt(scale)) * (rec + ext)
        w = w / np.sqrt(scale)
        w_ext = w_ext / np.sqrt(scale)
    return n, syn, k_ext, w, w_ext, dc, delay


def peak_rss_bytes(who=resource.RUSAGE_SELF):
    return resource.getrusage(who).ru_maxrss * 1024


def cpu_busy(seconds=1.0):
    """Fraction of all CPUs busy over `seconds` (from /proc/stat), None where unreadable."""
    def sample():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return v[3] + v[4], sum(v)
    try:
        idle0, tot0 = sample()
        time.sleep(seconds)
        idle1, tot1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    return 1.0 - (idle1 - idle0) / max(tot1 - tot0, 1)


def cpu_name():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def run_nest(args, threads):
    os.environ.setdefault("PYNEST_QUIET", "1")
    import nest

    if hasattr(nest, "VerbosityLevel"):
        nest.verbosity = nest.VerbosityLevel.WARNING
    else:
        nest.set_verbosity("M_WARNING")
    n, syn, k_ext, w, w_ext, dc, delay = derive(args.scale)
    total_syn = int(syn.sum())
    if total_syn > threads * MAX_PER_VP * 0.95:
        sys.exit(f"nest: {total_syn} synapses need more than {threads} virtual processes "
                 f"(NEST stores at most {MAX_PER_VP} connections per VP); give --threads 4")
    rss_before = peak_rss_bytes()

    t0 = time.perf_counter()
    nest.ResetKernel()
    nest.local_num_threads = threads
    nest.resolution = RESOLUTION
    nest.rng_seed = args.seed
    nest.print_time = False
    pops = []
    for i in range(8):
        pop = nest.Create("iaf_psc_exp", int(n[i]))
        pop.set(
            C_m=NET["C_m"],
            tau_m=NET["tau_m"],
            tau_syn_ex=NET["tau_syn"],
            tau_syn_in=NET["tau_syn"],
            E_L=NET["E_L"],
            V_th=NET["V_th"],
            V_reset=NET["V_reset"],
            t_ref=NET["t_ref"],
            I_e=dc[i],
        )
        pop.set(V_m=nest.random.normal(NET["V0_mean"][i], NET["V0_std"][i]))
        pops.append(pop)
    recorders = nest.Create("spike_recorder", n=8, params={"record_to": "memory",
                                                           "start": args.transient_ms})
    poisson = nest.Create("poisson_generator", n=8)
    poisson.rate = NET["bg_rate"] * k_ext
    t_create = time.perf_counter() - t0

    for i, target in enumerate(pops):
        for j, source in enumerate(pops):
            # the example connects every pair, N = 0 included
            w_min, w_max = (-np.inf, 0.0) if w[i][j] < 0 else (0.0, np.inf)
            syn_spec = {
                "synapse_model": "static_synapse",
                "weight": nest.math.redraw(
                    nest.random.normal(mean=w[i][j], std=abs(w[i][j] * NET["weight_rel_std"])),
                    min=w_min, max=w_max),
                "delay": nest.math.redraw(
                    nest.random.normal(mean=delay[i][j], std=delay[i][j] * NET["delay_rel_std"]),
                    min=nest.resolution - 0.5 * nest.resolution, max=np.inf),
            }
            nest.Connect(source, target, conn_spec={"rule": "fixed_total_number",
                                                    "N": int(syn[i][j])}, syn_spec=syn_spec)
    for i, target in enumerate(pops):
        nest.Connect(target, recorders[i])
    for i, target in enumerate(pops):
        nest.Connect(poisson[i], target, conn_spec={"rule": "all_to_all"},
                     syn_spec={"synapse_model": "static_synapse", "weight": w_ext,
                               "delay": NET["delay_poisson"]})
    nest.Prepare()
    build_s = time.perf_counter() - t0
    rss_built = peak_rss_bytes()

    t0 = time.perf_counter()
    nest.Run(args.sim_ms)
    loop_s = time.perf_counter() - t0
    nest.Cleanup()
    ks = nest.GetKernelStatus()

    span = (args.sim_ms - args.transient_ms) / 1000.0
    pops_out = []
    for i in range(8):
        spikes = int(recorders[i].n_events)
        pops_out.append({"name": POPS[i], "neurons": int(n[i]), "spikes": spikes,
                         "rate_hz": spikes / n[i] / span,
                         "published_full_scale_hz": float(NET["full_mean_rates"][i])})
    return {
        "simulator": f"NEST {nest.__version__}",
        "version": nest.__version__,
        "threads": threads,
        "virtual_processes": nest.total_num_virtual_procs,
        "scale": args.scale,
        "neurons": int(n.sum()),
        "synapses": total_syn,
        "connections": int(nest.num_connections),
        "sim_ms": args.sim_ms,
        "transient_ms": args.transient_ms,
        "seed": args.seed,
        "build_s": build_s,
        "create_s": t_create,
        "loop_s": loop_s,
        "rtf": loop_s / (args.sim_ms / 1000.0),
        "time_simulate_s": ks.get("time_simulate"),
        "time_simulate_cpu_s": ks.get("time_simulate_cpu"),
        "time_construction_connect_s": ks.get("time_construction_connect"),
        "peak_rss_bytes": peak_rss_bytes(),
        "rss_before_build_bytes": rss_before,
        "rss_after_build_bytes": rss_built,
        "bytes_per_synapse": (peak_rss_bytes() - rss_before) / max(total_syn, 1),
        "mean_rate_hz": sum(p["spikes"] for p in pops_out) / n.sum() / span,
        "populations": pops_out,
    }


def run_axon(args, workers):
    axon = args.axon
    if not os.path.isfile(axon):
        sys.exit(f"axon binary {axon} not found; build it with `cargo build --release`")
    scenario = args.axon_scenario or ("scenarios/microcircuit-small.toml" if args.scale == 0.1
                                      else "scenarios/microcircuit.toml")
    out = tempfile.mkdtemp(prefix="axon_microcircuit_")
    shutil.rmtree(out)
    cmd = [axon, "run", scenario, "--out", out, "-q",
           "--set", f"microcircuit.scale={args.scale}",
           "--set", f"microcircuit.duration_ms={args.sim_ms}",
           "--set", f"microcircuit.transient_ms={args.transient_ms}",
           "--set", f"seed={args.seed}",
           "--set", f"runtime.workers={workers}",
           "--set", f"runtime.shards={workers}"]
    for kv in args.axon_set:
        cmd += ["--set", kv]
    print("axon: " + " ".join(cmd), flush=True)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    process_s = time.perf_counter() - t0
    with open(os.path.join(out, "results.json")) as f:
        res = json.load(f)
    shutil.rmtree(out, ignore_errors=True)
    snn = res["snn"]
    return {
        "simulator": "axon",
        "command": " ".join(cmd),
        "setup": res.get("setup"),
        "workers": workers,
        "neurons": snn["neurons"],
        "synapses": snn["synapses"],
        "build_s": snn["build_s"],
        "loop_s": snn["wall_s"],
        "rtf": snn["rtf"],
        "process_s": process_s,
        "peak_rss_bytes": snn.get("peak_rss_bytes"),
        "bytes_per_synapse": snn.get("bytes_per_synapse"),
        "mean_rate_hz": snn.get("mean_rate_hz"),
        "populations": [{"name": p["name"], "neurons": p["neurons"], "rate_hz": p["rate_hz"]}
                        for p in snn["populations"]],
    }


def gb(b):
    return f"{b / 1e9:.2f} GB" if b is not None else "-"


def print_nest(r):
    print(f"\n{r['simulator']}, {r['threads']} thread(s), scale {r['scale']}: {r['neurons']} "
          f"neurons, {r['synapses']} synapses ({r['connections']} connections with the Poisson "
          f"and recorder ones), {r['sim_ms']:.0f} ms simulated, rates after "
          f"{r['transient_ms']:.0f} ms")
    print(f"build {r['build_s']:.2f} s | loop {r['loop_s']:.3f} s (rtf {r['rtf']:.3f}; NEST's "
          f"time_simulate {r['time_simulate_s']:.3f} s, CPU {r['time_simulate_cpu_s']:.3f} s)")
    print(f"peak RSS {gb(r['peak_rss_bytes'])} ({r['bytes_per_synapse']:.1f} B/synapse above the "
          f"{gb(r['rss_before_build_bytes'])} before the build)")
    print(f"{'population':<10} {'neurons':>8} {'rate Hz':>9} {'published (full scale)':>23}")
    for p in r["populations"]:
        print(f"{p['name']:<10} {p['neurons']:>8} {p['rate_hz']:>9.3f} "
              f"{p['published_full_scale_hz']:>23.3f}")


def print_side_by_side(a, r):
    print(f"\nside by side, same machine ({cpu_name()}, {os.cpu_count()} cores), scale "
          f"{r['scale']}, {r['sim_ms']:.0f} ms simulated, seed {r['seed']}")
    print(f"{'':<24} {'axon':>14} {r['simulator']:>14} {'NEST/axon':>10}")
    rows = [
        ("threads / workers", f"{a['workers']}", f"{r['threads']}", ""),
        ("neurons", f"{a['neurons']}", f"{r['neurons']}", ""),
        ("synapses", f"{a['synapses']}", f"{r['synapses']}", ""),
        ("build s", f"{a['build_s']:.2f}", f"{r['build_s']:.2f}",
         f"{r['build_s'] / a['build_s']:.1f}x"),
        ("loop s", f"{a['loop_s']:.3f}", f"{r['loop_s']:.3f}",
         f"{r['loop_s'] / a['loop_s']:.1f}x"),
        ("rtf", f"{a['rtf']:.3f}", f"{r['rtf']:.3f}", ""),
        ("peak RSS", gb(a["peak_rss_bytes"]), gb(r["peak_rss_bytes"]),
         f"{r['peak_rss_bytes'] / a['peak_rss_bytes']:.1f}x" if a["peak_rss_bytes"] else ""),
        ("mean rate Hz", f"{a['mean_rate_hz']:.3f}", f"{r['mean_rate_hz']:.3f}", ""),
    ]
    for name, x, y, z in rows:
        print(f"{name:<24} {x:>14} {y:>14} {z:>10}")
    print(f"axon's loop = 1/{r['loop_s'] / a['loop_s']:.1f} of NEST's")
    print(f"\n{'population':<10} {'axon Hz':>9} {'NEST Hz':>9} {'axon-NEST':>10} {'published':>10}")
    for pa, pn in zip(a["populations"], r["populations"]):
        rel = ((pa["rate_hz"] - pn["rate_hz"]) / pn["rate_hz"] * 100 if pn["rate_hz"]
               else float("nan"))
        print(f"{pn['name']:<10} {pa['rate_hz']:>9.3f} {pn['rate_hz']:>9.3f} {rel:>+9.1f}% "
              f"{pn['published_full_scale_hz']:>10.3f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=float, default=0.1,
                    help="N_scaling = K_scaling (1.0 = full scale). Default 0.1")
    ap.add_argument("--threads", type=int, default=None, help="NEST local_num_threads. "
                    "Default 4 above scale 0.5 (the example's), else 1")
    ap.add_argument("--sim-ms", type=float, default=1000.0)
    ap.add_argument("--transient-ms", type=float, default=100.0)
    ap.add_argument("--seed", type=int, default=55, help="NEST rng_seed and axon's seed")
    ap.add_argument("--json", help="write the figures to this file")
    ap.add_argument("--side-by-side", action="store_true", help="run axon first and compare")
    ap.add_argument("--axon", default="target/release/axon")
    ap.add_argument("--axon-scenario", default=None)
    ap.add_argument("--axon-workers", type=int, default=None,
                    help="runtime.workers = runtime.shards. Default min(NEST threads, cores)")
    ap.add_argument("--axon-set", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()
    threads = args.threads or (4 if args.scale > 0.5 else 1)

    busy = cpu_busy()
    out = {"machine": {"cpu": cpu_name(), "cores": os.cpu_count(),
                       "python": platform.python_version(), "cpu_busy_before": busy}}
    if busy is not None and busy > 0.1:
        print(f"warning: the CPUs were {busy:.0%} busy in the second before the run; other work "
              f"on this machine slows both simulators", flush=True)
    if args.side_by_side:
        workers = args.axon_workers or min(threads, os.cpu_count() or 1)
        out["axon"] = run_axon(args, workers)
        out["axon"]["peak_rss_children_bytes"] = peak_rss_bytes(resource.RUSAGE_CHILDREN)
        a = out["axon"]
        print(f"axon ({workers} workers): build {a['build_s']:.2f} s, loop {a['loop_s']:.3f} s "
              f"(rtf {a['rtf']:.3f}), peak RSS {gb(a['peak_rss_bytes'])}", flush=True)
    out["nest"] = run_nest(args, threads)
    print_nest(out["nest"])
    if args.side_by_side:
        print_side_by_side(out["axon"], out["nest"])
        out["nest_over_axon_loop"] = out["nest"]["loop_s"] / out["axon"]["loop_s"]
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
