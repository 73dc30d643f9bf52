"""Writing an experiment's results: one JSON of numbers and PNG figures in an output folder, each written to a
temporary name and renamed, so an interrupted run leaves no partial file.

Figures use matplotlib's non-interactive Agg backend (extra ``crsae[experiments]``).
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from crsae.errors import DataError, MissingDependencyError
from crsae.files import atomic_path


def output_folder(path: str | os.PathLike) -> Path:
    """Create ``path`` (and parents) if needed and check it is a writable folder."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise DataError(f"--output {path} is a file; pass a folder for the results")
    path.mkdir(parents=True, exist_ok=True)
    if not os.access(path, os.W_OK):
        raise DataError(f"--output {path} is not writable; choose another folder")
    return path


def environment() -> dict:
    """What the numbers were measured on: versions, threads, machine."""
    import torch
    return {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
            "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(), "machine": platform.machine(),
            "date": time.strftime("%Y-%m-%d")}


def write_results(folder: Path, results: dict, name: str = "results.json") -> Path:
    """Write ``results`` (numbers, lists, dicts; numpy values converted) as indented JSON."""
    path = Path(folder) / name
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
    path = Path(folder) / name
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
