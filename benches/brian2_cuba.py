"""The Brian2 peer for `axon bench snn`: Brian2's examples/CUBA.py (Brette et al. 2007), timed.

Same network as scenarios/cuba.toml: 4000 LIF neurons (0-3199 excitatory), p = 0.02, taum 20 ms,
taue 5 ms, taui 10 ms, Vt -50 mV, Vr -60 mV, El -49 mV, we 1.62 mV, wi -9 mV, refractory 5 ms,
exact integration, dt 0.1 ms, 1 s, no delay, no input.

    python3 -m venv /tmp/b2 && /tmp/b2/bin/pip install brian2 "numpy<2.3"
    /tmp/b2/bin/python benches/brian2_cuba.py --target cpp_standalone --threads 1 --seeds 1,2,3,4,5
    /tmp/b2/bin/python benches/brian2_cuba.py --target cython

Prints one line per seed: spikes, synaptic events, mean rate, the simulation loop's wall time
(standalone: the generated binary's own timing of `run`, compile excluded; runtime targets: the
`run` call after a warm-up run that compiles the code) and the compile/build time.
"""

import argparse
import shutil
import tempfile
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", default="cpp_standalone", choices=["cpp_standalone", "cython", "numpy"])
    ap.add_argument("--threads", type=int, default=1, help="OpenMP threads (cpp_standalone)")
    ap.add_argument("--seeds", default="1")
    ap.add_argument("--duration-ms", type=float, default=1000.0)
    args = ap.parse_args()

    for seed in [int(s) for s in args.seeds.split(",")]:
        import brian2 as b2
        from brian2 import ms, mV, second

        b2.start_scope()
        out = None
        if args.target == "cpp_standalone":
            out = tempfile.mkdtemp(prefix="brian2_cuba_")
            b2.set_device("cpp_standalone", directory=out, build_on_run=False)
            # 1 thread: the plain (non-OpenMP) code, as Brian2 generates by default.
            b2.prefs.devices.cpp_standalone.openmp_threads = 0 if args.threads == 1 else args.threads
        else:
            b2.set_device("runtime")
            b2.prefs.codegen.target = args.target
        b2.seed(seed)
        b2.defaultclock.dt = 0.1 * ms
        taum, taue, taui = 20 * ms, 5 * ms, 10 * ms
        Vt, Vr, El = -50 * mV, -60 * mV, -49 * mV
        eqs = """
        dv/dt  = (ge+gi-(v-El))/taum : volt (unless refractory)
        dge/dt = -ge/taue : volt
        dgi/dt = -gi/taui : volt
        """
        P = b2.NeuronGroup(4000, eqs, threshold="v>Vt", reset="v = Vr", refractory=5 * ms, method="exact")
        P.v = "Vr + rand() * (Vt - Vr)"
        P.ge = 0 * mV
        P.gi = 0 * mV
        we = (60 * 0.27 / 10) * mV
        wi = (-20 * 4.5 / 10) * mV
        Ce = b2.Synapses(P, P, on_pre="ge += we")
        Ci = b2.Synapses(P, P, on_pre="gi += wi")
        Ce.connect("i<3200", p=0.02)
        Ci.connect("i>=3200", p=0.02)
        mon = b2.SpikeMonitor(P)
        net = b2.Network(P, Ce, Ci, mon)
        duration = args.duration_ms * ms
        if args.target == "cpp_standalone":
            net.run(duration)
            t0 = time.perf_counter()
            b2.device.build(directory=out, compile=True, run=True, debug=False)
            total = time.perf_counter() - t0
            loop = b2.device._last_run_time
            build = total - loop
        else:
            t0 = time.perf_counter()
            net.run(0 * ms)  # compiles the code objects
            build = time.perf_counter() - t0
            t0 = time.perf_counter()
            net.run(duration)
            loop = time.perf_counter() - t0
        spikes = int(mon.num_spikes)
        # Synaptic events: each spike of i reaches every target of i.
        fan_out = {}
        for src in list(Ce.i[:]) + list(Ci.i[:]):
            fan_out[src] = fan_out.get(src, 0) + 1
        events = sum(fan_out.get(int(i), 0) for i in mon.i[:])
        synapses = len(Ce) + len(Ci)
        rate = spikes / 4000 / float(duration / second)
        print(
            f"brian2 {args.target} threads={args.threads} seed={seed}: synapses {synapses} spikes {spikes} "
            f"syn_events {events} rate {rate:.2f} Hz loop {loop:.4f} s build {build:.1f} s "
            f"({events / max(loop, 1e-12):.0f} syn events/s)",
            flush=True,
        )
        if out is not None:
            b2.device.reinit()
            b2.device.activate()
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
