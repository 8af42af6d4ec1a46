"""axon from Python: run scenarios, read their results, and move spiking networks in and out
through NIR.

The engine is the axon Rust crate (the same library the ``axon`` command runs); this package
is a thin, typed layer over it. ::

    import axon
    run = axon.run("scenarios/quickstart.toml", set={"train.epochs": 1})
    print(run.results["models"]["pc"]["final"])
    weights = run.weights("pc")            # dict of numpy arrays

Errors are exceptions carrying the CLI's message: :class:`ScenarioError` where ``axon run``
exits with 2 (bad input), :class:`RuntimeError` where it exits with 1. Ctrl-C stops a run
gracefully (as in the CLI: the batches in flight finish and a checkpoint is written), then
raises ``KeyboardInterrupt``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np

from . import _axon
from ._axon import RuntimeError, ScenarioError  # noqa: A004 (the CLI's two failure kinds)
from .nir import from_nir, to_nir

__all__ = [
    "Probe",
    "Run",
    "RuntimeError",
    "ScenarioError",
    "bench_bp",
    "bench_pc",
    "from_nir",
    "run",
    "to_nir",
    "validate",
]
__version__: str = _axon.__version__

Source = Union[str, "os.PathLike[str]", Mapping[str, Any]]
Progress = Union[bool, Callable[[Dict[str, Any]], None]]


def _overrides(set: Optional[Mapping[str, Any]]) -> List[str]:
    """``{"train.lr": 0.01}`` as the CLI's ``--set train.lr=0.01`` (values as TOML)."""
    out = []
    for key, value in (set or {}).items():
        out.append(f"{key}={_toml_value(value)}")
    return out


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if not isinstance(value, float) else _float(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise ScenarioError(f"--set value {value!r}: use a bool, number, string or list")


def _float(x: float) -> str:
    if x != x:
        return "nan"
    if x in (float("inf"), float("-inf")):
        return "inf" if x > 0 else "-inf"
    return repr(x)


def _source(scenario: Source) -> Tuple[Optional[str], Optional[str]]:
    if isinstance(scenario, Mapping):
        return None, json.dumps(dict(scenario))
    return os.fspath(scenario), None


class Probe(NamedTuple):
    """One probe's recording (``Run.probes[name]``)."""

    #: The samples, time x units (time x 1 for a scalar such as ``free_energy``).
    values: np.ndarray
    #: Each row's time, in ``time_unit``.
    times: np.ndarray
    #: The units' indices in the probe's target.
    units: np.ndarray
    #: The variable (``v``, ``values``...).
    variable: str
    #: Its unit ("" when it has none).
    unit: str
    #: ``ms`` (spiking networks) or ``step`` (inference steps of layer actors).
    time_unit: str


class Run:
    """A finished run: its folder and what it wrote there."""

    def __init__(self, path: Union[str, "os.PathLike[str]"]):
        #: The run folder.
        self.path: Path = Path(path)

    def __repr__(self) -> str:
        return f"axon.Run({str(self.path)!r})"

    @property
    def results(self) -> Dict[str, Any]:
        """``results.json`` as a dict (read from disk each time)."""
        with open(self.path / "results.json", encoding="utf-8") as f:
            return json.load(f)

    @property
    def epochs(self) -> List[Dict[str, Any]]:
        """Every model's per-epoch records, in order, each with its ``model`` name."""
        out = []
        for model, m in self.results.get("models", {}).items():
            for record in m.get("epochs", []):
                out.append({"model": model, **record})
        return out

    @property
    def traffic(self) -> Optional[Dict[str, Any]]:
        """The ``traffic`` section (messages and bytes per kind and edge), if any."""
        return self.results.get("traffic")

    def weights(self, model: Optional[str] = None, epoch: Optional[int] = None) -> Dict[str, np.ndarray]:
        """The weights of ``model`` after ``epoch`` (default: the last), from the run's
        checkpoint, as numpy arrays by tensor name (``layer1.weight``, ``layer1.bias``...).

        A spike-timing learning run (``stdp-mnist``) has one set of plastic weights, written at
        its end: ``run.weights()`` gives ``input_weights`` (784 x n_exc) and ``theta`` (n_exc,
        mV) from its ``weights.safetensors``."""
        plastic = self.path / "weights.safetensors"
        if model in (None, "stdp-mnist") and plastic.exists():
            return _tensors(plastic)
        if model is None:
            raise ScenarioError(f"{self.path}: name the model (one of {sorted(self.results.get('models', {}))})")
        folder = self.path / "checkpoints" / model
        if epoch is None:
            done = sorted(
                int(p.stem.split("-")[1]) for p in folder.glob("epoch-*.safetensors")
            )
            if not done:
                raise ScenarioError(f"{folder}: no checkpoint (is {model!r} a model of this run?)")
            epoch = done[-1]
        return _tensors(folder / f"epoch-{epoch}.safetensors")

    @property
    def probes(self) -> Dict[str, "Probe"]:
        """What the scenario's ``[[probe]]`` tables recorded, by probe name: each a
        :class:`Probe` with ``values`` (time x units), ``times`` (ms for spiking runs,
        inference steps for layers) and ``units`` (indices in the target)."""
        summaries = self.results.get("probes", [])
        if not summaries:
            return {}
        t = _tensors(self.path / "probes.safetensors")
        out = {}
        for s in summaries:
            name = s["name"]
            units = t.get(f"{name}.units", np.zeros(0, dtype=np.uint32))
            out[name] = Probe(t[name], t[f"{name}.time"], units, s["variable"], s["unit"], s["time_unit"])
        return out

    @property
    def spikes(self) -> Tuple[np.ndarray, np.ndarray]:
        """(times in ms, neuron ids) of the recorded spikes of a spiking run (the sample the
        raster plot shows)."""
        t = _tensors(self.path / "spikes.safetensors")
        return t["time_ms"], t["neuron"]


def _tensors(path: Path) -> Dict[str, np.ndarray]:
    raw = _axon.read_tensors(os.fspath(path))
    return {name: values.reshape(shape) for name, (values, shape) in raw.items()}


def _bar(event: Dict[str, Any], state: Dict[str, Any]) -> None:
    """The default progress display: tqdm when installed, else one line per epoch."""
    kind = event["event"]
    try:
        from tqdm.auto import tqdm  # type: ignore
    except ImportError:  # pragma: no cover - depends on the environment
        tqdm = None
    if kind == "epoch_start":
        if state.get("bar") is not None:
            state["bar"].close()
        desc = f"{event['model']} epoch {event['epoch']}/{event['epochs']}"
        state["bar"] = tqdm(total=event["batches"], desc=desc, leave=False) if tqdm else None
        state["done"] = 0
    elif kind == "batch" and state.get("bar") is not None:
        state["bar"].update(event["done"] - state["done"])
        state["done"] = event["done"]
    elif kind == "epoch_end":
        if state.get("bar") is not None:
            state["bar"].close()
            state["bar"] = None
        print(
            f"{event['model']} epoch {event['epoch']}: test accuracy "
            f"{event['test_accuracy']:.4f} ({event['wall_s']:.1f} s)",
            file=sys.stderr,
        )


def run(
    scenario: Source,
    set: Optional[Mapping[str, Any]] = None,
    out: Union[str, "os.PathLike[str]", None] = None,
    resume: Union[str, "os.PathLike[str]", None] = None,
    progress: Progress = True,
    live: bool = False,
) -> Run:
    """Runs a scenario as ``axon run`` does and returns the finished :class:`Run`.

    ``scenario`` is a TOML file or a dict of the same tables. ``set`` holds overrides
    (``{"train.epochs": 1}`` is ``--set train.epochs=1``). ``out`` is the run folder (default
    ``runs/NAME-TIMESTAMP``); ``resume`` continues a stopped run in its folder. ``progress``:
    ``True`` shows a bar (tqdm if installed), ``False`` nothing, or a callable that gets each
    event as a dict (``event`` is ``run_dir``, ``epoch_start``, ``batch`` or ``epoch_end``).
    The GIL is released while the actors run. ``live=True`` serves the run's live view
    (as ``axon run --live``) on 127.0.0.1 and prints its address; the page stays up after
    the run returns, until the next live run or the interpreter exits.
    """
    path, table = _source(scenario)
    state: Dict[str, Any] = {}
    if progress is True:
        callback: Optional[Callable[[Dict[str, Any]], None]] = lambda e: _bar(e, state)
    elif progress is False or progress is None:
        callback = None
    else:
        callback = progress
    folder, _results = _axon.run(
        path,
        table,
        _overrides(set),
        None if out is None else os.fspath(out),
        None if resume is None else os.fspath(resume),
        callback,
        live,
    )
    if state.get("bar") is not None:
        state["bar"].close()
    return Run(folder)


def validate(scenario: Source, set: Optional[Mapping[str, Any]] = None) -> str:
    """Checks a scenario as ``axon validate`` does; returns it as TOML with every default
    filled in. Raises :class:`ScenarioError` with the CLI's message if it is not valid."""
    path, table = _source(scenario)
    return _axon.validate(path, table, _overrides(set))


def bench_pc(
    scenario: Union[str, "os.PathLike[str]"],
    setups: Sequence[Tuple[str, int, int]] = (("pinned", 1, 1),),
    epochs: int = 1,
    set: Optional[Mapping[str, Any]] = None,
) -> List[Dict[str, Any]]:
    """Times the scenario's layer actors on each ``(executor, workers, shards)`` setup and
    the BP baseline on one thread: the rows of ``axon bench pc --json``."""
    text = _axon.bench_pc(os.fspath(scenario), _overrides(set), list(setups), epochs)
    return json.loads(text)


def bench_bp(
    layers: Sequence[int] = (784, 256, 256, 10),
    batch_size: int = 64,
    threads: int = 1,
    epochs: int = 1,
    optimizer: str = "adam",
    data: Union[str, "os.PathLike[str]"] = "data/mnist",
    train_limit: Optional[int] = None,
) -> Dict[str, Any]:
    """Times BP epochs on MNIST: the report of ``axon bench bp --json`` (epoch seconds,
    best, median, GFLOP per epoch)."""
    text = _axon.bench_bp(
        list(layers), batch_size, threads, epochs, optimizer, os.fspath(data), train_limit
    )
    return json.loads(text)
