"""Type stubs of the extension module (the engine under the `axon` package)."""

import builtins
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

__version__: str

class ScenarioError(ValueError):
    """Bad input: what `axon run` refuses with exit code 2 (the message is the CLI's)."""

class RuntimeError(builtins.RuntimeError):
    """A failure on the machine's side: `axon run`'s exit code 1 (the message is the CLI's)."""

def run(
    path: Optional[str],
    table_json: Optional[str],
    sets: List[str],
    out: Optional[str],
    resume: Optional[str],
    on_event: Optional[Callable[[Dict[str, Any]], None]],
    live: bool = False,
) -> Tuple[str, str]: ...
def validate(path: Optional[str], table_json: Optional[str], sets: List[str]) -> str: ...
def read_tensors(path: str) -> Dict[str, Tuple[np.ndarray, List[int]]]: ...
def bench_pc(path: str, sets: List[str], setups: List[Tuple[str, int, int]], epochs: int) -> str: ...
def bench_bp(
    layers: List[int],
    batch_size: int,
    threads: int,
    epochs: int,
    optimizer: str,
    data: str,
    train_limit: Optional[int],
) -> str: ...
def cuba_network(
    path: Optional[str], table_json: Optional[str], sets: List[str]
) -> Tuple[np.ndarray, np.ndarray, int, Dict[str, float]]: ...
def run_nir(
    spec_json: str,
    params: List[Tuple[str, str, np.ndarray]],
    input: np.ndarray,
    record: bool,
    trace_dir: Optional[str] = None,
    trace_sample: int = 0,
) -> Tuple[np.ndarray, List[int], Dict[str, np.ndarray], str]: ...
