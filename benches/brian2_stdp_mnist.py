"""The Brian2 peer for `scenarios/stdp-mnist.toml`: Diehl & Cook (2015) unsupervised MNIST, timed.

The network of the authors' code (Diehl&Cook_spiking_MNIST.py and its Brian2 port) as axon
implements it: dt 0.5 ms; 784 Poisson inputs at pixel/8 * intensity Hz (intensity 2) for 350 ms,
then 150 ms of rest; n_exc conductance-based LIF excitatory neurons (tau 100 ms, adaptive theta
+0.05 mV per spike, decay tau 1e7 ms, offset 20 mV, the 0.1 ms/ms timer that must exceed 5 ms) and
n_exc inhibitory ones (tau 10 ms); exc -> inh one-to-one (10.4), inh -> every other exc (17.0);
dense plastic input -> exc (w0 = (U(0,1) + 0.01) * 0.3) with the nearest-spike minimal triplet rule
(pre 20 ms, post1 20 ms, post2 40 ms, nu_pre 1e-4, nu_post 1e-2, w in [0, 1]); each exc neuron's
784 input weights scaled to sum 78 before every training presentation; all groups integrated with
method='euler' (forward Euler, as the authors' Brian code). A presentation with fewer than 5
excitatory spikes in its 350 ms is
followed (after the rest) by the same image with intensity + 1, at most 20 tries, in every phase
(training, labelling, test), as in the authors' code. Learning off (labelling, test): no STDP,
no normalisation, theta neither grows nor decays.

The whole sequence (training images, then label images, then test images) is one `run`, so C++
standalone compiles one binary and every decision between presentations happens in the generated
code: a one-neuron controller group runs at the start of every step (`run_regularly`) and keeps
the sequence position, the learning flag, intensity, try count and the presentation's excitatory
spike count (a synapse from every exc neuron adds 1); the input rates read the image from a
TimedArray indexed by the controller's image number (linked variables); the normalisation is a
`run_regularly` on the synapses on a 500 ms clock (every presentation starts on its tick), fed by
a summed variable whose updater runs on the same clock (so it costs nothing per step), with factor
1 when learning is off; when the last image is done a function call in the controller's code stops
the run (C++: `Network::_globally_stopped`, cython: Brian2's `Network._globally_stopped`), so the
`run` is given the longest duration it could need (20 tries per image) and ends early. Nothing of
the spec is left out of the standalone variant. Per-image responses for labels and test are cut out
of an excitatory SpikeMonitor with the controller's per-presentation records (one per presentation:
first step, sequence position, retry flag, spike count; the count is checked against the monitor).
Not in the spec, as in Brian2 and the authors' code: the timer starts at 0 (no exc spike before
50 ms); only an image's final presentation counts for labels and test. Initial weights come from
numpy (RandomState(seed)), Poisson draws from Brian2's generator: axon's statistics, not its numbers.
`--target numpy` runs the same model slowly; with the same seed it gives the same presentation
records and weight/theta summaries as the standalone binary (`--verbose` prints them).

    python3 -m venv /tmp/b2 && /tmp/b2/bin/pip install brian2 "numpy<2.3"
    /tmp/b2/bin/python benches/brian2_stdp_mnist.py --n-exc 100 --train 200 --label 0 --test 0
    /tmp/b2/bin/python benches/brian2_stdp_mnist.py --n-exc 100 --train 1000 --label 1000 --test 1000
    /tmp/b2/bin/python benches/brian2_stdp_mnist.py --target cython --n-exc 100 --train 50 --label 0 --test 0

Prints one line per run: presentations of training images (re-presentations included), the
training time per image and per presentation, the same for the learning-off phases (label + test),
the test accuracy, and the build time (standalone: code generation and compile; runtime: the
warm-up `run(0 ms)` that compiles the code objects) and the whole binary's / run()'s time. The
phase times are the generated code's own wall clock (std::chrono::steady_clock in C++,
time.perf_counter in the cython function), read at the first step of each phase's first
presentation and after the last: compile, synapse creation and file I/O are excluded, the 150 ms
rest of every presentation included.
"""

import argparse
import gzip
import os
import shutil
import tempfile
import time

import numpy as np

DT_MS = 0.5
STEPS_ON, STEPS_SLOT = 700, 1000  # 350 ms of input, 500 ms per presentation
MAX_TRIES = 20


def read_idx(path):
    if not os.path.exists(path) and os.path.exists(path + ".gz"):
        path += ".gz"
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * k:8 + 4 * k], "big") for k in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_mnist(data, n_train, n_test):
    if os.path.isdir(os.path.join(data, "mnist")) and not os.path.exists(
        os.path.join(data, "train-images-idx3-ubyte")
    ) and not os.path.exists(os.path.join(data, "train-images-idx3-ubyte.gz")):
        data = os.path.join(data, "mnist")
    tr_x = read_idx(os.path.join(data, "train-images-idx3-ubyte"))[:n_train].reshape(-1, 784)
    tr_y = read_idx(os.path.join(data, "train-labels-idx1-ubyte"))[:n_train]
    te_x = read_idx(os.path.join(data, "t10k-images-idx3-ubyte"))[:n_test].reshape(-1, 784)
    te_y = read_idx(os.path.join(data, "t10k-labels-idx1-ubyte"))[:n_test]
    return tr_x, tr_y.astype(int), te_x, te_y.astype(int)


def responses(records, spike_i, spike_step, n_exc):
    """Spike counts of the final presentation of each image, from the controller's records
    (one per presentation: first step, image, retry flag, counted spikes)."""
    out = {}
    order = np.argsort(spike_step, kind="stable")
    spike_i, spike_step = spike_i[order], spike_step[order]
    for start, img, retry, nspk in records:
        lo = np.searchsorted(spike_step, start)
        hi = np.searchsorted(spike_step, start + STEPS_ON)
        counts = np.bincount(spike_i[lo:hi], minlength=n_exc)
        assert counts.sum() == nspk, (start, img, counts.sum(), nspk)
        if not retry:
            out[img] = counts
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", default="cpp_standalone", choices=["cpp_standalone", "cython", "numpy"])
    ap.add_argument("--n-exc", type=int, default=100)
    ap.add_argument("--train", type=int, default=200, help="first N training images, learning on")
    ap.add_argument("--label", type=int, default=0, help="first N training images, learning off")
    ap.add_argument("--test", type=int, default=0, help="first N test images, learning off")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--verbose", action="store_true", help="print per-presentation records")
    ap.add_argument("--data", default="data/", help="MNIST IDX files (optionally .gz; also DIR/mnist)")
    args = ap.parse_args()

    import brian2 as b2
    from brian2 import Hz, implementation, ms, mV

    n = args.n_exc
    n_src = max(args.train, args.label)
    tr_x, tr_y, te_x, te_y = load_mnist(args.data, n_src, args.test)
    pixels = np.concatenate([tr_x, te_x]).astype(np.float64)  # image k: row k
    test_offset = len(tr_x)

    # The sequence of images, one run: training rows 0.., label rows 0.., then the test rows.
    n_lab_end = args.train + args.label
    n_seq = n_lab_end + args.test
    rows = np.concatenate([np.arange(args.train), np.arange(args.label),
                           test_offset + np.arange(args.test), [0]]).astype(np.float64)

    out = None
    if args.target == "cpp_standalone":
        out = tempfile.mkdtemp(prefix="brian2_stdp_mnist_")
        b2.set_device("cpp_standalone", directory=out, build_on_run=False)
        b2.prefs.devices.cpp_standalone.openmp_threads = 0  # one thread, no OpenMP
    else:
        b2.set_device("runtime")
        b2.prefs.codegen.target = args.target
    b2.seed(args.seed)
    rng = np.random.RandomState(args.seed)
    b2.defaultclock.dt = DT_MS * ms
    marks_file = os.path.join(out or tempfile.mkdtemp(prefix="brian2_stdp_mnist_"), "marks.txt")

    # Ends the run from inside the generated code once the last image is done.
    @implementation(
        "cpp",
        """
        double stop_if(double flag) {
            if (flag > 0) Network::_globally_stopped = true;
            return 0.0;
        }
        """,
        headers=['"network.h"'],
    )
    @implementation(
        "cython",
        """
        cdef double stop_if(double flag):
            if flag > 0:
                from brian2.core.network import Network as _Net
                _Net._globally_stopped = True
            return 0.0
        """,
    )
    @b2.check_units(flag=1, result=1)
    def stop_if(flag):  # the numpy target (slow; for checking the generated targets)
        if np.any(flag > 0):
            b2.Network._globally_stopped = True
        return 0.0 * flag

    # Wall clock at phase boundaries (the first step of the phase's first presentation): the
    # per-phase simulation time, measured by the generated code itself.
    @implementation(
        "cpp",
        """
        double mark(double flag, double seq) {
            if (flag > 0) {
                std::ofstream f("%s", std::ios::app);
                f.precision(17);
                f << seq << " " << std::chrono::duration<double>(
                    std::chrono::steady_clock::now().time_since_epoch()).count() << std::endl;
            }
            return 0.0;
        }
        """ % marks_file,
        headers=["<chrono>", "<fstream>"],
    )
    @implementation(
        "cython",
        """
        cdef double mark(double flag, double seq):
            if flag > 0:
                import time
                with open("%s", "a") as f:
                    f.write("%%r %%r\\n" %% (seq, time.perf_counter()))
            return 0.0
        """ % marks_file,
    )
    @b2.check_units(flag=1, seq=1, result=1)
    def mark(flag, seq):
        if np.any(flag > 0):
            with open(marks_file, "a") as f:
                f.write("%r %r\n" % (float(np.max(seq)), time.perf_counter()))
        return 0.0 * flag

    stop_if.stateless = False
    mark.stateless = False

    pix = b2.TimedArray(pixels, dt=1 * ms)  # pixels of image row k: pix(k * ms, i)
    row = b2.TimedArray(rows, dt=1 * ms)  # pixel row of sequence position k: row(k * ms)

    # Controller: one neuron, every step at the start of the step. `step` = steps done in the
    # presentation; at 700 the presentation's exc spikes (steps 0..699) decide a retry; at 1000 the
    # next presentation starts (the same image, intensity + 1, or the next one at intensity 2).
    ctrl = b2.NeuronGroup(
        1,
        """
        step : 1
        seq : 1
        img : 1
        lrn : 1
        intensity : 1
        tries : 1
        nspk : 1
        retry : 1
        on : 1
        """,
        threshold="step == STEPS_ON + 1",  # one record per presentation, after its decision
        reset="",
        name="ctrl",
        namespace={"STEPS_ON": STEPS_ON, "STEPS_SLOT": STEPS_SLOT, "MAX_TRIES": MAX_TRIES,
                   "stop_if": stop_if, "mark": mark, "row": row, "n_train": args.train,
                   "n_lab_end": n_lab_end, "n_seq": n_seq},
    )
    ctrl.run_regularly(
        """
        marked = mark(int(step == 0 and seq == 0), seq)
        nxt = int(step == STEPS_SLOT)
        seq = seq + nxt * (1 - retry)
        img = row(seq * ms)
        lrn = int(seq < n_train)
        tries = tries + nxt * (retry * tries + 1 - tries)
        intensity = intensity + nxt * (retry * (intensity + 1) + (1 - retry) * 2 - intensity)
        nspk = nspk * (1 - nxt)
        on = on + nxt * (1 - on)
        marked = mark(nxt * (1 - retry) * int(seq == n_train or seq == n_lab_end or seq >= n_seq), seq)
        retry = retry * (1 - nxt)
        step = step * (1 - nxt)
        stopped = stop_if(int(seq >= n_seq))
        dec = int(step == STEPS_ON)
        retry = retry + dec * int(nspk < 5 and tries < MAX_TRIES)
        on = on * (1 - dec)
        step = step + 1
        """,
        when="start",
        order=-4,
        name="ctrl_step",
    )
    ctrl.seq = 0
    ctrl.img = rows[0]
    ctrl.lrn = int(args.train > 0)
    ctrl.intensity = 2
    ctrl.tries = 1
    ctrl.on = 1

    inp = b2.NeuronGroup(
        784,
        """
        rate = pix(img * ms, i) / 8 * intensity * on * Hz : Hz
        img : 1 (linked)
        intensity : 1 (linked)
        on : 1 (linked)
        """,
        threshold="rand() < rate * dt",
        name="inp",
        namespace={"pix": pix},
    )
    zeros = np.zeros(784, dtype=int)
    inp.img = b2.linked_var(ctrl, "img", index=zeros)
    inp.intensity = b2.linked_var(ctrl, "intensity", index=zeros)
    inp.on = b2.linked_var(ctrl, "on", index=zeros)

    consts = dict(
        v_rest_e=-65 * mV, v_reset_e=-65 * mV, v_thresh_e=-52 * mV, offset=20 * mV,
        v_rest_i=-60 * mV, v_reset_i=-45 * mV, v_thresh_i=-40 * mV,
        tau_theta=1e7 * ms, theta_plus=0.05 * mV,
    )
    exc = b2.NeuronGroup(
        n,
        """
        dv/dt = ((v_rest_e - v) + ge * (0*mV - v) + gi * (-100*mV - v)) / (100*ms) : volt (unless refractory)
        dge/dt = -ge / (1*ms) : 1
        dgi/dt = -gi / (2*ms) : 1
        dtheta/dt = -lrn * theta / tau_theta : volt
        dtimer/dt = 0.1 : second
        wsum : 1
        lrn : 1
        lrn_ctrl : 1 (linked)
        """,
        threshold="(v > theta - offset + v_thresh_e) and (timer > 5*ms)",
        reset="v = v_reset_e; timer = 0*ms; theta += lrn * theta_plus",
        refractory=5 * ms,
        method="euler",
        name="exc",
        namespace=consts,
    )
    inh = b2.NeuronGroup(
        n,
        """
        dv/dt = ((v_rest_i - v) + ge * (0*mV - v) + gi * (-85*mV - v)) / (10*ms) : volt (unless refractory)
        dge/dt = -ge / (1*ms) : 1
        dgi/dt = -gi / (2*ms) : 1
        """,
        threshold="v > v_thresh_i",
        reset="v = v_reset_i",
        refractory=2 * ms,
        method="euler",
        name="inh",
        namespace=consts,
    )
    # Synapses cannot read a linked variable of their target, so `lrn` is copied each presentation.
    exc.lrn_ctrl = b2.linked_var(ctrl, "lrn", index=np.zeros(n, dtype=int))
    exc.lrn = int(args.train > 0)
    exc.v = -105 * mV
    exc.theta = 20 * mV
    inh.v = -100 * mV

    stdp = b2.Synapses(
        inp,
        exc,
        """
        w : 1
        post2before : 1
        dpre/dt = -pre / (20*ms) : 1 (event-driven)
        dpost1/dt = -post1 / (20*ms) : 1 (event-driven)
        dpost2/dt = -post2 / (40*ms) : 1 (event-driven)
        wsum_post = w : 1 (summed)
        """,
        on_pre="ge_post += w; pre = 1; w = clip(w - lrn_post * 0.0001 * post1, 0, 1)",
        on_post="post2before = post2; w = clip(w + lrn_post * 0.01 * pre * post2before, 0, 1); post1 = 1; post2 = 1",
        name="stdp",
    )
    ii, jj = np.meshgrid(np.arange(784), np.arange(n), indexing="ij")
    stdp.connect(i=ii.ravel(), j=jj.ravel())
    stdp.w = ((rng.random_sample((784, n)) + 0.01) * 0.3).ravel()
    # Normalisation before every training presentation: the summed updater and the scaling run
    # on a 500 ms clock at the start of the step in which a presentation begins, after the
    # controller has set `lrn` for it (presentations are 1000 steps from t = 0, so they start
    # on that clock's ticks); with learning off the factor is 1.
    slot_clock = b2.Clock(dt=STEPS_SLOT * DT_MS * ms, name="slot_clock")
    copy = exc.run_regularly("lrn = lrn_ctrl", dt=STEPS_SLOT * DT_MS * ms, when="start",
                             order=-3, name="copy_lrn")
    copy._clock = slot_clock
    for upd in stdp.summed_updaters.values():
        upd._clock = slot_clock
        upd.when, upd.order = "start", -2
    norm = stdp.run_regularly("w = w * (lrn_post * 78.0 / (wsum_post + 1 - lrn_post) + 1 - lrn_post)",
                              dt=STEPS_SLOT * DT_MS * ms,
                              when="start", order=-1, name="norm")
    norm._clock = slot_clock

    e2i = b2.Synapses(exc, inh, on_pre="ge_post += 10.4", name="e2i")
    e2i.connect(j="i")
    i2e = b2.Synapses(inh, exc, on_pre="gi_post += 17.0", name="i2e")
    i2e.connect(condition="i != j")
    count = b2.Synapses(exc, ctrl, on_pre="nspk_post += 1", name="count")
    count.connect()

    spikes = b2.SpikeMonitor(exc, name="exc_spikes")
    rec = b2.SpikeMonitor(ctrl, variables=["seq", "retry", "nspk"], name="rec")
    net = b2.Network(ctrl, inp, exc, inh, stdp, e2i, i2e, count, spikes, rec)

    # Long enough for 20 tries of every image; the controller ends the run after the last one.
    duration = n_seq * MAX_TRIES * STEPS_SLOT * DT_MS * ms
    if args.target == "cpp_standalone":
        net.run(duration)
        t0 = time.perf_counter()
        b2.device.build(directory=out, compile=True, run=False, debug=False)
        build = time.perf_counter() - t0
        t0 = time.perf_counter()
        b2.device.run(directory=out, with_output=False)
        binary = time.perf_counter() - t0
    else:
        t0 = time.perf_counter()
        net.run(0 * ms)  # compiles every code object
        build = time.perf_counter() - t0
        t0 = time.perf_counter()
        net.run(duration)
        binary = time.perf_counter() - t0
    marks = {}
    with open(marks_file) as f:
        for line in f:
            k, secs = line.split()
            marks.setdefault(int(round(float(k))), float(secs))
    wall = {"train": marks[args.train] - marks[0],
            "label": marks[n_lab_end] - marks[args.train],
            "test": marks[n_seq] - marks[n_lab_end]}

    rec_t = np.round(np.asarray(rec.t_) / (DT_MS / 1000.0)).astype(np.int64)
    rec_seq = np.asarray(rec.seq[:]).round().astype(int)
    rec_retry = np.asarray(rec.retry[:]).round().astype(int)
    rec_nspk = np.asarray(rec.nspk[:]).round().astype(int)
    starts = rec_t - STEPS_ON  # the presentation's first step
    n_pres = {"train": int(np.sum(rec_seq < args.train)),
              "label": int(np.sum((rec_seq >= args.train) & (rec_seq < n_lab_end))),
              "test": int(np.sum(rec_seq >= n_lab_end))}
    assert sum(n_pres.values()) == len(rec_seq) and rec_seq.max() == n_seq - 1
    if args.verbose:
        for r in zip(starts, rec_seq, rec_retry, rec_nspk):
            print("presentation: first step %d sequence %d retry %d exc spikes %d" % r)
        w = np.asarray(stdp.w[:])
        print("w: min %.4f mean %.4f max %.4f; theta (mV): mean %.3f max %.3f; exc spikes %d"
              % (w.min(), w.mean(), w.max(), np.mean(exc.theta[:] / mV),
                 np.max(exc.theta[:] / mV), spikes.num_spikes))

    acc = float("nan")
    if args.label > 0 and args.test > 0:
        sp_i = np.asarray(spikes.i[:]).astype(int)
        sp_step = np.round(np.asarray(spikes.t_) / (DT_MS / 1000.0)).astype(np.int64)

        resp = responses(zip(starts, rec_seq, rec_retry, rec_nspk), sp_i, sp_step, n)
        lab_counts = np.array([resp[args.train + k] for k in range(args.label)], dtype=float)
        rates = np.zeros((10, n))
        for c in range(10):
            m = tr_y[: args.label] == c
            if m.any():
                rates[c] = lab_counts[m].mean(axis=0)
        # The class with the highest mean response (ties: the lowest); never fired: unassigned.
        assign = np.where(rates.max(axis=0) > 0, rates.argmax(axis=0), -1)
        correct = 0
        for k in range(args.test):
            counts = resp[n_lab_end + k]
            score = np.array([counts[assign == c].mean() if (assign == c).any() else 0.0
                              for c in range(10)])
            correct += int(score.argmax() == te_y[k])
        acc = correct / args.test

    off = n_pres["label"] + n_pres["test"]
    print(
        f"brian2 {args.target} n_exc={n} seed={args.seed}: train {args.train} images "
        f"{n_pres['train']} presentations {wall['train']:.2f} s = "
        f"{wall['train'] / max(args.train, 1) * 1000:.1f} ms/image "
        f"{wall['train'] / max(n_pres['train'], 1) * 1000:.1f} ms/presentation; "
        f"label {args.label} + test {args.test} images {off} presentations "
        f"{(wall['label'] + wall['test']) / max(off, 1) * 1000:.1f} ms/presentation; "
        f"test accuracy " + (f"{acc:.4f}" if acc == acc else "n/a") + " (times: the code's own clock)"
        + f"; build {build:.1f} s, whole {'binary' if out else 'run()'} {binary:.1f} s",
        flush=True,
    )
    if not args.verbose:
        shutil.rmtree(os.path.dirname(marks_file), ignore_errors=True)


if __name__ == "__main__":
    main()
