"""NIR in and out: graphs built with the nir package run on axon's actors as the snnTorch /
Norse discrete-time equations say (checked against numpy loops); bad graphs and inputs are
exceptions naming the problem; a converted SNN exports and runs back."""

import numpy as np
import pytest

nir = pytest.importorskip("nir")

import axon  # noqa: E402
from conftest import SMALL  # noqa: E402

RNG = np.random.default_rng(7)
N_IN, N_H = 6, 5
W = RNG.normal(0, 0.8, (N_H, N_IN)).astype(np.float32)
B = RNG.normal(0.1, 0.1, N_H).astype(np.float32)
W_REC = RNG.normal(0, 0.5, (N_H, N_H)).astype(np.float32)
B_REC = RNG.normal(0, 0.1, N_H).astype(np.float32)
DT, BETA = 1e-4, 0.9


def lif(n, **extra):
    tau = np.full(n, DT / (1 - BETA), np.float32)
    return nir.LIF(
        tau=tau,
        r=tau / np.float32(DT),
        v_leak=np.zeros(n, np.float32),
        v_threshold=np.ones(n, np.float32),
        v_reset=np.zeros(n, np.float32),
        **extra,
    )


def graph(recurrent=False, neuron=None):
    nodes = {
        "input": nir.Input(input_type={"input": np.array([N_IN])}),
        "fc": nir.Affine(weight=W, bias=B),
        "lif": neuron or lif(N_H),
        "output": nir.Output(output_type={"output": np.array([N_H])}),
    }
    edges = [("input", "fc"), ("fc", "lif"), ("lif", "output")]
    if recurrent:
        nodes["rec"] = nir.Affine(weight=W_REC, bias=B_REC)
        edges += [("lif", "rec"), ("rec", "lif")]
    return nir.NIRGraph(nodes=nodes, edges=edges)


def reference(x, recurrent=False, cuba=False):
    """v = beta v + I (I: affine input, + W_rec s_prev + b_rec when recurrent; through a
    synaptic current i = alpha i + I for CubaLIF), spike on v > 1, reset to 0."""
    beta = np.float32(1) - np.float32(DT) / np.float32(DT / (1 - BETA))
    v = np.zeros((x.shape[1], N_H), np.float32)
    i_syn = np.zeros_like(v)
    s = np.zeros_like(v)
    out = []
    for t in range(x.shape[0]):
        cur = x[t] @ W.T + B
        if recurrent:
            cur = cur + s @ W_REC.T + B_REC
        if cuba:
            i_syn = np.float32(0.8) * i_syn + cur
            cur = i_syn
        v = beta * v + cur
        s = (v > 1).astype(np.float32)
        v = np.where(s > 0, 0, v)
        out.append(s)
    return np.stack(out)


def inputs(steps=30, batch=4):
    return (RNG.random((steps, batch, N_IN)) < 0.5).astype(np.float32)


@pytest.mark.parametrize("recurrent", [False, True])
def test_lif_graphs_spike_as_the_discrete_equations(recurrent, tmp_path):
    x = inputs()
    want = reference(x, recurrent)
    assert 0 < want.sum() < want.size
    got = axon.from_nir(graph(recurrent), x, record=True)
    np.testing.assert_array_equal(got.output, want)
    assert got.states["lif"].shape == (30, 4, N_H)
    # Its actors' traffic, as results.json has it: spikes between nodes, no weights.
    t = got.traffic
    assert t["totals"]["messages"] == sum(e["messages"] for e in t["per_edge"]) > 0
    assert t["weight_transport_bytes"] == 0
    assert {e["to"] for e in t["per_edge"]} >= {"lif"}
    # From a file, as another tool writes it.
    path = tmp_path / "g.nir"
    nir.write(str(path), graph(recurrent))
    np.testing.assert_array_equal(axon.from_nir(path, x).output, want)


def test_a_traced_graph_writes_the_trace_files_of_a_run_folder(tmp_path):
    import json

    x = inputs()
    plain = axon.from_nir(graph(True), x)
    traced = axon.from_nir(graph(True), x, trace_dir=tmp_path / "t", trace_sample=3)
    # Tracing reads the messages, it changes none of them.
    np.testing.assert_array_equal(traced.output, plain.output)
    assert traced.traffic["totals"] == plain.traffic["totals"]
    folder = tmp_path / "t"
    assert {p.name for p in folder.iterdir()} == {"traffic.png", "trace.jsonl", "trace.json"}
    lines = [json.loads(l) for l in (folder / "trace.jsonl").read_text().splitlines()]
    # 1 message in 3 of each actor's, each edge by its actors' names, as results.json
    # counts them.
    total = traced.traffic["totals"]["messages"]
    edges = {(e["from"], e["to"]) for e in traced.traffic["per_edge"]}
    senders = {f for f, _ in edges}
    assert total // 3 <= len(lines) <= total // 3 + len(senders)
    assert {(l["from"], l["to"]) for l in lines} <= edges
    assert {l["to"] for l in lines} >= {"fc", "lif", "rec"}
    assert "traceEvents" in json.loads((folder / "trace.json").read_text())
    # The heat map alone without sampling; sampling needs a folder.
    axon.from_nir(graph(), x, trace_dir=tmp_path / "h")
    assert [p.name for p in (tmp_path / "h").iterdir()] == ["traffic.png"]
    with pytest.raises(axon.ScenarioError, match="give trace_dir"):
        axon.from_nir(graph(), x, trace_sample=2)
    with pytest.raises(axon.ScenarioError, match="trace_sample"):
        axon.from_nir(graph(), x, trace_dir=tmp_path / "h", trace_sample=-1)


def test_cuba_lif_runs_its_synaptic_current():
    tau_syn = np.full(N_H, DT / (1 - 0.8), np.float32)
    tau_mem = np.full(N_H, DT / (1 - BETA), np.float32)
    neuron = nir.CubaLIF(
        tau_syn=tau_syn,
        tau_mem=tau_mem,
        r=tau_mem / np.float32(DT),
        v_leak=np.zeros(N_H, np.float32),
        v_threshold=np.ones(N_H, np.float32),
        v_reset=np.zeros(N_H, np.float32),
        w_in=tau_syn / np.float32(DT),
    )
    x = inputs()
    np.testing.assert_array_equal(
        axon.from_nir(graph(neuron=neuron), x).output, reference(x, cuba=True)
    )


def test_exact_integration_differs_from_euler_and_is_selectable():
    x = inputs(60)
    euler = axon.from_nir(graph(), x, method="euler", record=True).states["lif"]
    exact = axon.from_nir(graph(), x, method="exact", record=True).states["lif"]
    assert not np.array_equal(euler, exact)


def test_bad_graphs_and_inputs_are_exceptions_naming_the_problem(tmp_path):
    bad = tmp_path / "bad.nir"
    bad.write_bytes(b"not hdf5 at all")
    with pytest.raises(axon.ScenarioError, match="not a readable NIR file"):
        axon.from_nir(bad, inputs())
    g = graph()
    g.nodes["lif"] = nir.Delay(delay=np.ones(N_H, np.float32))
    with pytest.raises(axon.ScenarioError, match=r"node 'lif': NIR type 'Delay' is not supported"):
        axon.from_nir(g, inputs())
    with pytest.raises(axon.ScenarioError, match=r"shape \(30, 4\)"):
        axon.from_nir(graph(), inputs()[:, :, 0])
    with pytest.raises(axon.ScenarioError, match="shape"):
        axon.from_nir(graph(), inputs()[:, :, :3])
    with pytest.raises(axon.ScenarioError, match="dtype"):
        axon.from_nir(graph(), inputs().astype(np.complex64))
    with pytest.raises(axon.ScenarioError, match="dtype"):
        axon.from_nir(graph(), np.full((2, 1, N_IN), "a"))
    g = graph()
    g.nodes["lif"].tau[2] = np.nan
    with pytest.raises(axon.ScenarioError, match="non-finite"):
        axon.from_nir(g, inputs())
    with pytest.raises(axon.ScenarioError, match="non-finite"):
        axon.from_nir(graph(), np.full((2, 1, N_IN), np.inf, np.float32))


def idx(name, header):
    """An MNIST IDX file of data/mnist (gzipped as shipped)."""
    import gzip

    with gzip.open(f"data/mnist/{name}.gz", "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=header)


def test_a_converted_snn_exports_and_runs_back(tmp_path):
    sets = dict(SMALL, **{"convert.ticks": [40], "convert.normalise_examples": 500})
    run = axon.run("scenarios/snn-convert.toml", set=sets, out=tmp_path / "conv", progress=False)
    g = axon.to_nir(run, tmp_path / "snn.nir")
    kinds = [type(n).__name__ for n in g.nodes.values()]
    assert kinds.count("Affine") == 3 and kinds.count("LIF") == 3
    back = nir.read(str(tmp_path / "snn.nir"))
    assert set(back.nodes) == set(g.nodes)
    # The test images as a constant current, 40 steps: the exported network classifies as
    # axon's converted one does (it resets to zero where axon subtracts: close, not equal).
    images = idx("t10k-images-idx3-ubyte", 16)
    labels = idx("t10k-labels-idx1-ubyte", 8)
    x = np.repeat((images.reshape(-1, 784)[:500] / 255.0)[None], 40, axis=0)
    out = axon.from_nir(back, x).output
    accuracy = float((out.sum(0).argmax(1) == labels[:500]).mean())
    converted = run.results["conversion"][0]["test_accuracy"]
    assert abs(accuracy - converted) < 0.05, (accuracy, converted)


def test_a_cuba_network_exports_with_its_synapses(tmp_path):
    scenario = {
        "name": "cuba-small",
        "seed": 4,
        "algorithm": {"kind": "cuba"},
        "cuba": {"neurons": 400, "p_connect": 0.05, "duration_ms": 50},
    }
    run = axon.run(scenario, out=tmp_path / "cuba", progress=False)
    g = axon.to_nir(run, tmp_path / "cuba.nir")
    back = nir.read(str(tmp_path / "cuba.nir"))
    w_e, w_i = back.nodes["w_e"].weight, back.nodes["w_i"].weight
    # Every synapse axon simulated, excitatory from the first 80 % of the neurons.
    assert np.count_nonzero(w_e) + np.count_nonzero(w_i) == run.results["snn"]["synapses"]
    assert not w_e[:, 320:].any() and not w_i[:, :320].any()
    assert set(np.unique(w_e)) <= {0.0, np.float32(1.62)} and w_i.min() == np.float32(-9.0)
    assert type(g.nodes["syn_e"]).__name__ == "LI"
    # It runs on axon from the file (no external input): a self-sustained, finite activity.
    out = axon.from_nir(back, np.zeros((500, 1, 400), np.float32), record=True)
    assert out.output.sum() > 400
    assert np.isfinite(out.states["neurons"]).all()
