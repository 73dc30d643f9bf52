"""Writing an experiment's results: one JSON of numbers and PNG figures in an output folder, each written to a
temporary name and renamed, so an interrupted run leaves no partial file. The folder is checked before the run
and made when the first file is written, so a run refused or failed before that leaves nothing.

Figures use matplotlib's non-interactive Agg backend (extra ``crsae[experiments]``).
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from crsae.errors import MissingDependencyError
from crsae.files import atomic_path, check_output_folder, make_folder


def output_folder(path: str | os.PathLike) -> Path:
    """Check, before the experiment runs, that ``path`` is a writable folder or can be made in one
    (``crsae.files.check_output_folder``); it is made when the first result is written."""
    return check_output_folder(path)


def environment() -> dict:
    """What the numbers were measured on: versions, threads, machine."""
    import torch
    return {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
            "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(), "machine": platform.machine(),
            "date": time.strftime("%Y-%m-%d")}


def write_results(folder: Path, results: dict, name: str = "results.json") -> Path:
    """Write ``results`` (numbers, lists, dicts; numpy values converted) as indented JSON."""
    path = make_folder(folder) / name
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(results, indent=2, default=_plain) + "\n")
    return path


def pyplot():
    """matplotlib.pyplot on the Agg backend, or a clear error naming the extra to install."""
    try:
        import matplotlib
    except ImportError:
        raise MissingDependencyError("experiment figures need matplotlib; pip install 'crsae[experiments]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save_figure(fig, folder: Path, name: str, dpi: int = 100) -> Path:
    """Save a matplotlib figure as ``folder/name`` (PNG) and close it."""
    path = make_folder(folder) / name
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    pyplot().close(fig)
    return path


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")
