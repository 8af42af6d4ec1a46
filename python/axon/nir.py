"""NIR (the Neuromorphic Intermediate Representation) in and out of axon.

:func:`from_nir` runs a NIR graph on axon's spiking actors (one actor per node); :func:`to_nir`
writes an axon network as a NIR graph another tool can load. Files are read and written by
the ``nir`` package (``pip install nir``); the Rust crate never sees HDF5.

Time. NIR is continuous-time; axon steps it with ``dt`` (seconds, as NIR's time constants).
``method="euler"`` is forward Euler, ``v' = v + dt/tau (v_leak - v + r I)``: what snnTorch
and Norse run, and what their exports mean (they write ``tau = dt / (1 - beta)`` and
``r = tau / dt`` for ``dt = 1e-4``, so ``v' = beta v + I``; an input factor ``r dt / tau``
within 1e-5 of 1 is taken as 1, as snnTorch's importer does). ``method="exact"`` integrates
the membrane exactly for an input held over the step. The defaults, ``dt=1e-4`` and
``"euler"``, are those of snnTorch and Norse; a graph whose metadata names ``dt`` or
``method`` uses those. A spike resets the membrane to ``v_reset`` (NIR's definition;
``reset="subtract"`` subtracts the threshold instead). A cycle (a recurrent layer) feeds its
spikes back one step late, zeros at the first step.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

import numpy as np

from . import _axon
from ._axon import ScenarioError

__all__ = ["NirResult", "from_nir", "to_nir", "SUPPORTED"]

#: NIR node types axon runs.
SUPPORTED = (
    "Input",
    "Output",
    "Affine",
    "Linear",
    "Scale",
    "LIF",
    "CubaLIF",
    "LI",
    "IF",
    "Integrator",
    "I",
    "Threshold",
    "Flatten",
)

#: Parameters read from each node type.
_PARAMS = {
    "Affine": ("weight", "bias"),
    "Linear": ("weight",),
    "Scale": ("scale",),
    "Threshold": ("threshold",),
    "LIF": ("tau", "r", "v_leak", "v_threshold", "v_reset"),
    "LI": ("tau", "r", "v_leak"),
    "CubaLIF": ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "v_reset", "w_in"),
    "IF": ("r", "v_threshold", "v_reset"),
    "Integrator": ("r",),
}


@dataclass
class NirResult:
    """What :func:`from_nir` returns."""

    #: The output node's values per step: spikes (0/1) for spiking nodes, shape
    #: (time, batch, features).
    output: np.ndarray
    #: With ``record=True``: each stateful node's membrane per step, (time, batch, neurons).
    states: Dict[str, np.ndarray] = field(default_factory=dict)
    #: The actors' message traffic, as results.json's ``traffic``: ``totals``,
    #: ``per_kind`` and ``per_edge`` (the driver and one actor per node, by name).
    traffic: Dict = field(default_factory=dict)


def _nir():
    try:
        import nir  # type: ignore
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("NIR support needs the nir package: pip install nir") from e
    return nir


def _kind(node: Any) -> str:
    kind = type(node).__name__
    return "Integrator" if kind == "I" else kind


def _size(name: str, node: Any) -> int:
    """Neurons of a node (its output width)."""
    kind = _kind(node)
    if kind in ("Affine", "Linear"):
        return int(np.asarray(node.weight).shape[0])
    if kind in ("Input", "Output", "Flatten"):
        types = node.input_type if kind != "Output" else node.output_type
        shape = next(iter(types.values())) if types else None
        if shape is None or len(np.atleast_1d(shape)) == 0:
            raise ScenarioError(f"node {name!r}: {kind} without a shape")
        return int(np.prod(np.atleast_1d(shape)))
    first = _PARAMS[kind][0]
    return int(np.asarray(getattr(node, first)).size)


def _flatten(graph: Any, prefix: str = "") -> Tuple[Dict[str, Any], List[Tuple[str, str]]]:
    """Nodes and edges with nested graphs inlined (their Input and Output become
    pass-through nodes named ``sub.input``...)."""
    nir = _nir()
    nodes: Dict[str, Any] = {}
    edges: List[Tuple[str, str]] = []
    inner: Dict[str, Tuple[str, str]] = {}
    for name, node in graph.nodes.items():
        full = prefix + name
        if isinstance(node, nir.NIRGraph):
            sub_nodes, sub_edges = _flatten(node, full + ".")
            for sname, snode in sub_nodes.items():
                if _kind(snode) in ("Input", "Output") and sname.count(".") == full.count(".") + 1:
                    sub_nodes[sname] = ("Identity", snode)
            nodes.update(sub_nodes)
            edges.extend(sub_edges)
            ins = [n for n, v in node.nodes.items() if _kind(v) == "Input"]
            outs = [n for n, v in node.nodes.items() if _kind(v) == "Output"]
            if len(ins) != 1 or len(outs) != 1:
                raise ScenarioError(f"nested graph {full!r}: needs one Input and one Output node")
            inner[full] = (f"{full}.{ins[0]}", f"{full}.{outs[0]}")
        else:
            nodes[full] = node
    for a, b in graph.edges:
        a, b = prefix + a, prefix + b
        a = inner[a][1] if a in inner else a
        b = inner[b][0] if b in inner else b
        edges.append((a, b))
    return nodes, edges


def _spec(graph: Any, dt: float, method: str, reset: str):
    nodes, edges = _flatten(graph)
    specs, params = [], []
    for name, node in nodes.items():
        if isinstance(node, tuple):  # a nested graph's Input or Output
            kind, node = "Flatten", node[1]
        else:
            kind = _kind(node)
        if kind not in SUPPORTED:
            raise ScenarioError(
                f"node {name!r}: NIR type {kind!r} is not supported (supported: "
                + ", ".join(SUPPORTED)
                + ")"
            )
        size = _size(name, node)
        specs.append({"name": name, "kind": kind, "size": size})
        for p in _PARAMS.get(kind, ()):
            value = getattr(node, p, None)
            if value is None:
                continue
            arr = np.asarray(value)
            if not np.issubdtype(arr.dtype, np.number):
                raise ScenarioError(f"node {name!r}: parameter {p!r} is not numeric ({arr.dtype})")
            params.append((name, p, np.ascontiguousarray(arr, dtype=np.float32).ravel()))
    # Inputs first: the Rust side feeds them in this order.
    specs.sort(key=lambda s: s["kind"] != "Input")
    spec = {"nodes": specs, "edges": edges, "dt": dt, "method": method, "reset": reset}
    return json.dumps(spec), params


def _metadata(graph: Any) -> Dict[str, Any]:
    meta = getattr(graph, "metadata", None) or {}
    return dict(meta) if isinstance(meta, dict) else {}


def from_nir(
    graph: Any,
    input: Any,
    dt: Optional[float] = None,
    method: Optional[str] = None,
    reset: str = "value",
    record: bool = False,
    trace_dir: Union[str, "os.PathLike[str]", None] = None,
    trace_sample: int = 0,
) -> NirResult:
    """Runs a NIR graph on axon's spiking actors.

    ``graph`` is a ``nir.NIRGraph`` or the path of a NIR file. ``input`` has shape
    (time, batch, features): spikes or currents for the graph's Input node, any real dtype.
    ``dt`` and ``method`` (``"euler"`` or ``"exact"``) discretise it (see the module
    documentation; the defaults are snnTorch's and Norse's, or the graph's metadata).
    ``reset`` is ``"value"`` (to ``v_reset``, NIR's definition) or ``"subtract"``. With
    ``record``, every stateful node's membrane is returned too.

    ``trace_dir`` names a folder (made if missing) that gets the run's traffic heat map,
    ``traffic.png``; with ``trace_sample=N`` (> 0) it also gets 1 message in N as
    ``trace.jsonl`` (read by ``axon trace summarize``) and ``trace.json`` (Perfetto), as a
    run folder holds them with ``[trace] sample = N``. Files of those names there are
    replaced.

    Raises :class:`axon.ScenarioError` naming the problem for an unreadable file, an
    unsupported node (named, with its type), parameters that do not fit, a NaN parameter, or
    an input of the wrong shape or dtype.
    """
    nir = _nir()
    if isinstance(graph, (str, os.PathLike)):
        try:
            graph = nir.read(os.fspath(graph))
        except Exception as e:  # the nir package raises many kinds (h5py, KeyError...)
            raise ScenarioError(f"{os.fspath(graph)}: not a readable NIR file ({type(e).__name__}: {e})") from e
    if not isinstance(graph, nir.NIRGraph):
        raise ScenarioError(f"expected a nir.NIRGraph or a NIR file path, got {type(graph).__name__}")
    meta = _metadata(graph)
    dt = float(meta.get("dt", 1e-4) if dt is None else dt)
    method = str(meta.get("method", "euler") if method is None else method)
    if method not in ("euler", "exact"):
        raise ScenarioError(f"method {method!r}: use 'euler' or 'exact'")
    if reset not in ("value", "subtract"):
        raise ScenarioError(f"reset {reset!r}: use 'value' or 'subtract'")
    if not (dt > 0 and np.isfinite(dt)):
        raise ScenarioError(f"dt = {dt}: must be a positive time step in seconds")
    x = np.asarray(input)
    if x.dtype.kind not in "biuf":
        raise ScenarioError(f"input of dtype {x.dtype}: give real numbers (bool, int or float)")
    if x.ndim != 3:
        raise ScenarioError(f"input of shape {x.shape}: give (time, batch, features)")
    if isinstance(trace_sample, bool) or not isinstance(trace_sample, int) or trace_sample < 0:
        raise ScenarioError(f"trace_sample = {trace_sample!r}: give a whole number >= 0 (1 message in N is logged; 0 logs none)")
    if trace_sample > 0 and trace_dir is None:
        raise ScenarioError(f"trace_sample = {trace_sample} writes trace files: give trace_dir, the folder to write them in")
    spec, params = _spec(graph, dt, method, reset)
    x = np.ascontiguousarray(x, dtype=np.float32)
    folder = None if trace_dir is None else os.fspath(trace_dir)
    flat, shape, states, traffic = _axon.run_nir(spec, params, x, record, folder, trace_sample)
    t, b = shape[0], shape[1]
    return NirResult(
        output=flat.reshape(shape),
        states={k: v.reshape(t, b, -1) for k, v in states.items()},
        traffic=json.loads(traffic),
    )


def to_nir(
    source: Union[str, "os.PathLike[str]", Any],
    path: Union[str, "os.PathLike[str]", None] = None,
    dt: float = 1e-4,
) -> Any:
    """Writes an axon network as a NIR graph (and to ``path``, if given); returns the
    ``nir.NIRGraph``.

    ``source`` is a run folder (or an :class:`axon.Run`) of

    - an ``snn-convert`` scenario (or its ``checkpoints/snn/converted.safetensors``): the
      converted network becomes ``Affine`` layers each followed by a spiking layer that
      integrates ``v += W s + b`` per step and fires above threshold 1, written as ``LIF``
      nodes with ``tau`` so long that ``beta = 1 - dt/tau`` is 1 in float32 and
      ``r = tau / dt`` (the form snnTorch's importer reads as a non-leaky ``Leaky``; its
      ``IF`` import is not usable), ``v_leak = 0``, ``v_threshold = 1``, ``v_reset = 0``. NIR
      resets to a value, so the exported network resets to 0 where axon's subtracts 1;
    - a ``cuba`` scenario: see :func:`cuba_to_nir`.
    """
    from . import Run

    if isinstance(source, Run):
        source = source.path
    file = os.fspath(source)
    if os.path.isdir(file):
        scenario = os.path.join(file, "scenario.toml")
        if os.path.exists(scenario) and 'kind = "cuba"' in open(scenario, encoding="utf-8").read():
            return cuba_to_nir(scenario, path)
        file = os.path.join(file, "checkpoints", "snn", "converted.safetensors")
    if not os.path.exists(file):
        raise ScenarioError(
            f"{file}: no converted network (run an snn-convert scenario first; it writes "
            "checkpoints/snn/converted.safetensors) and no CUBA scenario"
        )
    return _converted_to_nir(file, path, dt)


def _converted_to_nir(file: str, path: Any, dt: float) -> Any:
    nir = _nir()
    from . import _tensors
    tensors = _tensors(__import__("pathlib").Path(file))
    layers = sorted({int(k.split(".")[1]) for k in tensors if k.startswith("layers.")})
    if not layers:
        raise ScenarioError(f"{file}: no layers.N.weight tensors")
    tau = np.float32(dt * 1e9)
    nodes: Dict[str, Any] = {}
    edges: List[Tuple[str, str]] = []
    first = tensors["layers.0.weight"]
    nodes["input"] = nir.Input(input_type={"input": np.array([first.shape[1]])})
    prev = "input"
    for i in layers:
        w, b = tensors[f"layers.{i}.weight"], tensors[f"layers.{i}.bias"]
        n = w.shape[0]
        nodes[f"fc{i}"] = nir.Affine(weight=w.astype(np.float32), bias=b.astype(np.float32))
        nodes[f"if{i}"] = nir.LIF(
            tau=np.full(n, tau, dtype=np.float32),
            r=np.full(n, tau / np.float32(dt), dtype=np.float32),
            v_leak=np.zeros(n, dtype=np.float32),
            v_threshold=np.ones(n, dtype=np.float32),
            v_reset=np.zeros(n, dtype=np.float32),
        )
        edges += [(prev, f"fc{i}"), (f"fc{i}", f"if{i}")]
        prev = f"if{i}"
    n_out = tensors[f"layers.{layers[-1]}.weight"].shape[0]
    nodes["output"] = nir.Output(output_type={"output": np.array([n_out])})
    edges.append((prev, "output"))
    graph = nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": dt, "method": "euler", "source": "axon snn-convert"})
    if path is not None:
        nir.write(os.fspath(path), graph)
    return graph


def cuba_to_nir(scenario: Union[str, "os.PathLike[str]", Dict[str, Any]], path: Any = None) -> Any:
    """The CUBA network of a scenario (its ``[cuba]`` table and seed: the synapses
    ``axon run`` simulates) as a NIR graph: an ``LIF`` population (``tau`` = tau_m,
    ``v_leak`` = the resting potential, threshold and reset in mV, ``r = 1``), and for each
    synapse type a ``Linear`` (the weights in mV, dense) into an ``LI`` current
    (``tau`` = tau_e or tau_i, ``r = tau / dt``: each spike adds its weight, as in Brian2's
    ``ge += we``) feeding back into the population; an ``Input`` node adds external current
    (zeros reproduce CUBA's self-sustained activity). NIR has neither refractory periods nor
    initial states: the graph has no 5 ms refractoriness and starts at rest, where axon holds
    neurons for 5 ms after a spike and starts them between reset and threshold.
    """
    nir = _nir()
    if isinstance(scenario, Mapping):
        pre, post, n_exc, p = _axon.cuba_network(None, json.dumps(dict(scenario)), [])
    else:
        pre, post, n_exc, p = _axon.cuba_network(os.fspath(scenario), None, [])
    n = int(p["neurons"])
    dt = p["dt_ms"] * 1e-3
    w_e = np.zeros((n, n), np.float32)
    w_i = np.zeros((n, n), np.float32)
    exc = pre < n_exc
    np.add.at(w_e, (post[exc], pre[exc]), np.float32(p["we_mv"]))
    np.add.at(w_i, (post[~exc], pre[~exc]), np.float32(p["wi_mv"]))
    full = lambda v: np.full(n, v, np.float32)  # noqa: E731
    tau_m, tau_e, tau_i = (p[k] * 1e-3 for k in ("tau_m_ms", "tau_e_ms", "tau_i_ms"))
    nodes = {
        "input": nir.Input(input_type={"input": np.array([n])}),
        "neurons": nir.LIF(
            tau=full(tau_m),
            r=full(1.0),
            v_leak=full(p["v_rest_mv"]),
            v_threshold=full(p["v_threshold_mv"]),
            v_reset=full(p["v_reset_mv"]),
        ),
        "w_e": nir.Linear(weight=w_e),
        "syn_e": nir.LI(tau=full(tau_e), r=full(tau_e / dt), v_leak=full(0.0)),
        "w_i": nir.Linear(weight=w_i),
        "syn_i": nir.LI(tau=full(tau_i), r=full(tau_i / dt), v_leak=full(0.0)),
        "output": nir.Output(output_type={"output": np.array([n])}),
    }
    edges = [
        ("input", "neurons"),
        ("neurons", "w_e"),
        ("w_e", "syn_e"),
        ("syn_e", "neurons"),
        ("neurons", "w_i"),
        ("w_i", "syn_i"),
        ("syn_i", "neurons"),
        ("neurons", "output"),
    ]
    meta = {"dt": dt, "method": "euler", "source": "axon cuba"}
    graph = nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta)
    if path is not None:
        nir.write(os.fspath(path), graph)
    return graph
