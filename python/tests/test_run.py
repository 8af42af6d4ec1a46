"""axon.run, axon.validate, axon.bench_pc and the Run object, driven as a notebook would."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import axon
from conftest import ROOT, SMALL


def test_a_run_gives_results_epochs_weights_and_traffic(tmp_path):
    events = []
    run = axon.run("scenarios/quickstart.toml", set=SMALL, out=tmp_path / "run", progress=events.append)
    assert run.path == tmp_path / "run"
    results = run.results
    assert results["status"] == "complete"
    # The same numbers as results.json on disk, per epoch and model.
    assert [(e["model"], e["epoch"]) for e in run.epochs] == [("bp", 1), ("pc", 1)]
    assert run.epochs[1]["test_accuracy"] == results["models"]["pc"]["final"]["test_accuracy"]
    assert run.epochs[1]["test_accuracy"] > 0.3
    w = run.weights("pc")
    assert w["layers.0.weight"].shape == (128, 784) and w["layers.0.weight"].dtype == np.float32
    assert w["layers.1.bias"].shape == (10,)
    assert np.isfinite(w["layers.0.weight"]).all()
    # Epoch 0 is the shared initialisation: training moved the weights.
    assert not np.array_equal(run.weights("pc", 0)["layers.0.weight"], w["layers.0.weight"])
    assert run.traffic["totals"]["messages"] > 0
    kinds = {e["event"] for e in events}
    assert {"run_dir", "epoch_start", "batch", "epoch_end"} <= kinds
    ends = [e for e in events if e["event"] == "epoch_end"]
    assert [e["model"] for e in ends] == ["bp", "pc"]


def test_a_dict_scenario_runs_like_its_file(tmp_path):
    table = {
        "name": "from-dict",
        "seed": 3,
        "data": {"train_limit": 256, "test_limit": 64},
        "network": {"layers": [784, 32, 10]},
        "train": {"epochs": 1},
        "algorithm": {"kind": "pc"},
        "compare": {"baseline": "none"},
    }
    a = axon.run(table, out=tmp_path / "a", progress=False)
    file = tmp_path / "s.toml"
    file.write_text(axon.validate(table))
    b = axon.run(file, out=tmp_path / "b", progress=False)
    def numbers(run):
        return [{k: v for k, v in e.items() if k != "wall_s"} for e in run.epochs]

    assert numbers(a) == numbers(b)


def test_bad_input_is_a_scenario_error_with_the_cli_message(tmp_path):
    with pytest.raises(axon.ScenarioError, match="train.lr = NaN"):
        axon.run("scenarios/quickstart.toml", set={"train.lr": float("nan")}, progress=False)
    with pytest.raises(axon.ScenarioError, match="unknown field `bogus`"):
        axon.validate({"name": "x", "bogus": 1})
    with pytest.raises(axon.ScenarioError, match="no-such.toml"):
        axon.run("scenarios/no-such.toml", progress=False)
    with pytest.raises(ValueError):  # a ScenarioError is a ValueError
        axon.validate("scenarios/quickstart.toml", set={"network.layers": [784]})


def test_a_failing_actor_is_a_runtime_error(tmp_path):
    sets = dict(SMALL, **{"faults.panic_actor": "layer-2", "faults.panic_after_batches": 2})
    with pytest.raises(axon.RuntimeError, match="actor layer-2 panicked"):
        axon.run("scenarios/quickstart.toml", set=sets, out=tmp_path / "run", progress=False)


def test_validate_fills_in_defaults():
    text = axon.validate("scenarios/quickstart.toml", set={"train.epochs": 3})
    assert 'name = "quickstart"' in text and "epochs = 3" in text


def test_bench_pc_gives_the_cli_rows():
    rows = axon.bench_pc(
        "scenarios/quickstart.toml", setups=[("pinned", 1, 1)], epochs=1, set=SMALL
    )
    assert [r["model"] for r in rows] == ["bp", "pc"]
    assert all(r["best_s"] > 0 for r in rows)


def test_bench_bp_gives_the_cli_report():
    report = axon.bench_bp(layers=[784, 32, 10], epochs=1, train_limit=1000)
    assert report["examples"] == 1000 and report["best_s"] > 0
    with pytest.raises(axon.ScenarioError, match="optimizer"):
        axon.bench_bp(optimizer="lbfgs")


def test_a_spiking_run_gives_its_spikes(tmp_path):
    run = axon.run(
        "scenarios/cuba.toml", set={"cuba.duration_ms": 100}, out=tmp_path / "cuba", progress=False
    )
    times, neurons = run.spikes
    assert times.dtype == np.float32 and neurons.dtype == np.uint32
    assert len(times) == len(neurons) > 100
    assert np.all(np.diff(times) >= 0) and times.max() < 100


def test_probes_come_back_as_arrays_and_live_prints_the_address(tmp_path, capfd):
    probes = [
        {"target": "E", "variable": "v", "sample": 5},
        {"name": "rate", "target": "I", "variable": "spikes", "units": [0, 3], "every": 2},
    ]
    scenario = {"name": "cuba-probes", "algorithm": {"kind": "cuba"}, "cuba": {"duration_ms": 50}, "probe": probes}
    run = axon.run(scenario, out=tmp_path / "p", progress=False, live=True)
    assert "live view: http://127.0.0.1:" in capfd.readouterr().err
    v = run.probes["E.v"]
    assert v.values.shape == (500, 5) and v.times.shape == (500,) and v.unit == "mV"
    assert v.time_unit == "ms" and abs(v.times[1] - v.times[0] - 0.1) < 1e-9
    assert np.all((v.values > -80) & (v.values < -40))
    r = run.probes["rate"]
    assert r.values.shape == (250, 2) and list(r.units) == [0, 3]
    assert set(np.unique(r.values)) <= {0.0, 1.0}
    with pytest.raises(axon.ScenarioError, match=r"probe\[0\].variable"):
        axon.validate(dict(scenario, probe=[{"target": "E", "variable": "theta"}]))


def test_a_stdp_run_gives_its_learned_weights(tmp_path):
    sets = {
        "stdp_mnist.n_exc": 20,
        "stdp_mnist.train_images": 100,
        "stdp_mnist.label_images": 50,
        "stdp_mnist.test_images": 50,
    }
    run = axon.run("scenarios/stdp-mnist.toml", set=sets, out=tmp_path / "stdp", progress=False)
    w = run.weights()
    assert w["input_weights"].shape == (784, 20) and w["theta"].shape == (20,)
    assert np.all((w["input_weights"] >= 0) & (w["input_weights"] <= 1))
    # Normalisation before each training presentation keeps each neuron's sum near 78.
    assert np.all(np.abs(w["input_weights"].sum(axis=0) - 78) < 10)
    assert np.all(w["theta"] >= 20.0)
    assert run.results["stdp"]["test"]["images"] == 50


def test_a_spiking_pc_run_gives_its_rates_and_raster(tmp_path):
    sets = {**SMALL, "data.train_limit": 256, "data.test_limit": 64, "compare.baseline": "none"}
    run = axon.run("scenarios/spc-mnist.toml", set=sets, out=tmp_path / "spc", progress=False)
    assert [(e["model"], e["epoch"]) for e in run.epochs] == [("spc", 1)]
    assert run.traffic["weight_transport_bytes"] == 0
    assert run.weights("spc")["layers.0.weight"].shape == (256, 784)
    rates = run.results["models"]["spc"]["pc"][0]["tick_rates"]
    assert [r["layer"] for r in rates] == [1, 2, 3]
    assert all(len(r["error_pos"]) == 40 and sum(r["error_pos"][:20]) == 0 for r in rates)
    for name in ["error_rates.png", "spc_raster.png", "spc_raster.safetensors"]:
        assert (run.path / name).is_file(), name


def test_ctrl_c_stops_gracefully_and_the_run_resumes(tmp_path):
    out = tmp_path / "run"
    sets = dict(SMALL, **{"train.epochs": 30, "checkpoint.every_batches": 5})
    # A shell that starts the tests in the background without job control (`cmd &` in a
    # script) hands its children SIGINT ignored, and Python then keeps it ignored: restore
    # Python's own handler so that the child sees the signal wherever the tests run.
    script = textwrap.dedent(
        f"""
        import signal
        signal.signal(signal.SIGINT, signal.default_int_handler)
        import axon
        try:
            axon.run("scenarios/quickstart.toml", out={str(out)!r}, progress=False,
                     set={sets!r})
        except KeyboardInterrupt as e:
            print("interrupted:", e)
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    checkpoint = out / "checkpoints" / "resume.safetensors"
    import time

    start = time.time()
    while not checkpoint.exists():
        assert child.poll() is None, child.communicate()
        assert time.time() - start < 120
        time.sleep(0.05)
    child.send_signal(signal.SIGINT)
    stdout, stderr = child.communicate(timeout=120)
    assert "interrupted:" in stdout and "--resume" in stdout, (stdout, stderr)
    assert json.loads((out / "results.json").read_text())["status"] == "interrupted"
    run = axon.run("scenarios/quickstart.toml", set=sets, resume=out, progress=False)
    assert run.results["status"] == "complete"
    assert len(run.results["models"]["pc"]["epochs"]) == 30


def test_one_hundred_runs_do_not_leak():
    def rss_kb():
        with open("/proc/self/status") as f:
            return next(int(l.split()[1]) for l in f if l.startswith("VmRSS"))

    small = {"train.epochs": 1, "data.train_limit": 64, "data.test_limit": 64, "compare.baseline": "none"}
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        # Warm-up: the first runs' worker threads make glibc create its per-thread arenas
        # (5-9 MB on 2 cores, then flat; see docs/python.md). A leak grows on after it.
        for i in range(50):
            axon.run("scenarios/quickstart.toml", set=small, out=os.path.join(d, f"w{i}"), progress=False)
        before = rss_kb()
        for i in range(100):
            axon.run("scenarios/quickstart.toml", set=small, out=os.path.join(d, f"r{i}"), progress=False)
        grown = rss_kb() - before
    assert grown <= 5 * 1024, f"resident memory grew by {grown} kB over 100 runs"


def test_the_readme_notebook_script_runs(tmp_path):
    """The README's notebook cell, as written (matplotlib without a display)."""
    pytest.importorskip("matplotlib")
    text = (ROOT / "README.md").read_text()
    section = text.split("## From Python", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    env = dict(os.environ, MPLBACKEND="Agg")
    script = code + "\nassert weights['layers.0.weight'].shape == (128, 784)\nprint(run.path)\n"
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    run = axon.Run(done.stdout.strip().splitlines()[-1])
    assert len([e for e in run.epochs if e["model"] == "pc"]) == 3
