"""The Brian2 peer for the cortical microcircuit (`scenarios/microcircuit-small.toml`, `axon run`).

The Potjans & Diesmann (2014) model as NEST's PyNEST example Potjans_2014 builds it, and as axon
does (src/models/microcircuit/): 8 populations of iaf_psc_exp neurons (C_m 250 pF, tau_m 10 ms,
tau_syn 0.5 ms, t_ref 2 ms, E_L = V_reset = -65 mV, V_th -50 mV, exact integration, dt 0.1 ms),
fixed total number of synapses per projection (multapses and autapses allowed), PSP 0.15 mV ->
87.81 pA (L4E -> L2/3E doubled, g = -4), weights normal (relative sd 0.1, redrawn to keep their
sign), delays normal (1.5 ms E / 0.75 ms I, relative sd 0.5, redrawn below half a tick),
Poisson background at 8 Hz per external synapse (Brian2's PoissonInput), optimized initial
potentials; `--scale` scales neurons and in-degrees with the example's compensation (weights /
sqrt(scale), DC making up the lost mean input). Rates are measured after `--transient-ms`.

    python3 -m venv /tmp/b2 && /tmp/b2/bin/pip install brian2 "numpy<2.3"
    /tmp/b2/bin/python benches/brian2_microcircuit.py --scale 0.1 --precision float32
    /tmp/b2/bin/python benches/brian2_microcircuit.py --scale 0.1 --precision float64

Prints per-population rates (Hz) and the simulation loop's wall time (the generated binary's own
timing of `run`; compile and synapse creation excluded, reported apart).
"""

import argparse
import shutil
import tempfile
import time

import numpy as np

POPS = ["L2/3E", "L2/3I", "L4E", "L4I", "L5E", "L5I", "L6E", "L6I"]
FULL_N = np.array([20683, 5834, 21915, 5479, 4850, 1065, 14395, 2948], dtype=float)
CONN = np.array([
    [0.1009, 0.1689, 0.0437, 0.0818, 0.0323, 0.0, 0.0076, 0.0],
    [0.1346, 0.1371, 0.0316, 0.0515, 0.0755, 0.0, 0.0042, 0.0],
    [0.0077, 0.0059, 0.0497, 0.135, 0.0067, 0.0003, 0.0453, 0.0],
    [0.0691, 0.0029, 0.0794, 0.1597, 0.0033, 0.0, 0.1057, 0.0],
    [0.1004, 0.0622, 0.0505, 0.0057, 0.0831, 0.3726, 0.0204, 0.0],
    [0.0548, 0.0269, 0.0257, 0.0022, 0.06, 0.3158, 0.0086, 0.0],
    [0.0156, 0.0066, 0.0211, 0.0166, 0.0572, 0.0197, 0.0396, 0.2252],
    [0.0364, 0.001, 0.0034, 0.0005, 0.0277, 0.008, 0.0658, 0.1443],
])
K_EXT = np.array([1600, 1500, 2100, 1900, 2000, 1900, 2900, 2100], dtype=float)
REF_RATES = np.array([0.903, 2.965, 4.414, 5.876, 7.569, 8.633, 1.105, 7.829])
V0_MEAN = [-68.28, -63.16, -63.33, -63.45, -63.11, -61.66, -66.72, -61.43]
V0_SD = [5.36, 4.57, 4.74, 4.94, 4.94, 4.55, 5.46, 4.48]
C_M, TAU_M, TAU_S, DT = 250.0, 10.0, 0.5, 0.1


def psc_per_psp():
    sub = 1.0 / (TAU_S - TAU_M)
    pre = TAU_M * TAU_S / C_M * sub
    frac = (TAU_M / TAU_S) ** sub
    return 1.0 / (pre * (frac ** TAU_M - frac ** TAU_S))


def model(scale):
    prod = np.outer(FULL_N, FULL_N)
    full_syn = np.log(1.0 - CONN) / np.log((prod - 1.0) / prod)
    n = np.round(FULL_N * scale).astype(int)
    syn = np.round(full_syn * scale * scale).astype(int)
    k_ext = np.round(K_EXT * scale).astype(int)
    psp = np.tile([0.15, -0.6], (8, 4))
    psp[0, 2] = 0.3
    psc = psp * psc_per_psp()
    psc_ext = 0.15 * psc_per_psp()
    rec = np.sum(psc * full_syn / FULL_N[:, None] * REF_RATES, axis=1)
    dc = 0.001 * TAU_S * (1 - np.sqrt(scale)) * (rec + psc_ext * K_EXT * 8.0)
    return n, syn, k_ext, psc / np.sqrt(scale), psc_ext / np.sqrt(scale), dc


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=0.1)
    ap.add_argument("--precision", default="float32", choices=["float32", "float64"])
    ap.add_argument("--duration-ms", type=float, default=1000.0)
    ap.add_argument("--transient-ms", type=float, default=100.0)
    ap.add_argument("--seed", type=int, default=55)
    args = ap.parse_args()

    import brian2 as b2
    from brian2 import ms, mV, pA, pF

    out = tempfile.mkdtemp(prefix="brian2_microcircuit_")
    b2.set_device("cpp_standalone", directory=out, build_on_run=False)
    b2.prefs.devices.cpp_standalone.openmp_threads = 0
    b2.prefs.core.default_float_dtype = getattr(np, args.precision)
    b2.seed(args.seed)
    rng = np.random.default_rng(args.seed)
    b2.defaultclock.dt = DT * ms

    n, syn, k_ext, w, w_ext, dc = model(args.scale)
    eqs = """
    dv/dt = (-(v - E_L) + (i_syn + I_dc) * tau_m / C_m) / tau_m : volt (unless refractory)
    di_syn/dt = -i_syn / tau_s : amp
    I_dc : amp
    """
    ns = dict(E_L=-65 * mV, tau_m=TAU_M * ms, C_m=C_M * pF, tau_s=TAU_S * ms)
    t0 = time.perf_counter()
    pops, objects = [], []
    for p in range(8):
        g = b2.NeuronGroup(n[p], eqs, threshold="v >= -50*mV", reset="v = -65*mV",
                           refractory=2 * ms, method="exact", namespace=ns, name=f"pop{p}")
        g.v = (V0_MEAN[p] + V0_SD[p] * rng.standard_normal(n[p])) * mV
        g.I_dc = dc[p] * pA
        pops.append(g)
        objects.append(b2.PoissonInput(g, "i_syn", N=int(k_ext[p]), rate=8.0 * b2.Hz, weight=w_ext * pA))
    for a in range(8):
        for b in range(8):
            k = syn[a, b]
            if k == 0:
                continue
            mean_w, mean_d = w[a, b], (1.5 if b % 2 == 0 else 0.75)
            ws = mean_w + abs(mean_w) * 0.1 * rng.standard_normal(k)
            bad = ws * np.sign(mean_w) < 0
            while bad.any():
                ws[bad] = mean_w + abs(mean_w) * 0.1 * rng.standard_normal(bad.sum())
                bad = ws * np.sign(mean_w) < 0
            ds = mean_d + mean_d * 0.5 * rng.standard_normal(k)
            bad = ds < 0.5 * DT
            while bad.any():
                ds[bad] = mean_d + mean_d * 0.5 * rng.standard_normal(bad.sum())
                bad = ds < 0.5 * DT
            s = b2.Synapses(pops[b], pops[a], "w : amp", on_pre="i_syn_post += w", name=f"syn{a}_{b}")
            s.connect(i=rng.integers(0, n[b], k), j=rng.integers(0, n[a], k))
            s.w = ws * pA
            s.delay = np.maximum(np.round(ds / DT), 1) * DT * ms
            objects.append(s)
    mons = [b2.SpikeMonitor(g) for g in pops]
    net = b2.Network(*pops, *objects, *mons)
    net.run(args.duration_ms * ms)
    setup = time.perf_counter() - t0
    t0 = time.perf_counter()
    b2.device.build(directory=out, compile=True, run=True, debug=False)
    total = time.perf_counter() - t0
    loop = b2.device._last_run_time
    span = (args.duration_ms - args.transient_ms) / 1000.0
    rates = []
    for p in range(8):
        t = np.asarray(mons[p].t / ms)
        rates.append(np.sum(t >= args.transient_ms) / n[p] / span)
    print(f"brian2 cpp_standalone {args.precision} scale {args.scale}: neurons {n.sum()} "
          f"synapses {syn.sum()} loop {loop:.3f} s (rtf {loop / (args.duration_ms / 1000):.2f}) "
          f"compile+run {total:.1f} s setup {setup:.1f} s")
    print("rates " + " ".join(f"{POPS[p]}={rates[p]:.3f}" for p in range(8)))
    shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
