"""Optional dependency sets (pyproject.toml's extras) and the one-line error when a command needs a missing one.

A plain ``pip install crsae`` has neither torch nor onnxruntime: inference needs ``crsae[cpu]`` (onnxruntime) or
``crsae[gpu]`` (onnxruntime-gpu with its CUDA and cuDNN wheels), training and export need ``crsae[train]``
(torch, onnx, onnxscript) beside one of those. onnxruntime and onnxruntime-gpu share the import name
``onnxruntime``, so with both installed the one imported is whichever was installed last: refused, with the fix.
"""

from __future__ import annotations

import importlib
import importlib.util
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version

from crsae.errors import MissingDependencyError

# import name -> the extra that installs it
EXTRA_OF = {"torch": "train", "onnx": "train", "onnxscript": "train", "ray": "ray", "tritonclient": "triton",
            "matplotlib": "experiments", "sklearn": "sklearn", "spikeinterface": "spikes"}
ORT_HINT = "pip install 'crsae[cpu]' (or 'crsae[gpu]' on an NVIDIA GPU)"
TORCH_HINT = ("install the CPU build of torch first on machines without a GPU (PyTorch's CPU wheel index); "
              "an unpinned torch from PyPI is a multi-GB CUDA build")


def require(*modules: str, what: str) -> None:
    """Raise MissingDependencyError naming the extra to install if any of ``modules`` cannot be imported."""
    for module in modules:
        if importlib.util.find_spec(module) is None:
            if module == "onnxruntime":
                raise MissingDependencyError(f"{what} needs onnxruntime, which is not installed: {ORT_HINT}")
            hint = f"; {TORCH_HINT}" if module == "torch" else ""
            raise MissingDependencyError(f"{what} needs {module}, which is not installed: "
                                         f"pip install 'crsae[{EXTRA_OF[module]}]'{hint}")


def onnxruntime(what: str = "inference"):
    """The onnxruntime module, after checking it is installed once (CPU or GPU build, not both)."""
    require("onnxruntime", what=what)
    if _both_builds():
        raise MissingDependencyError("both onnxruntime and onnxruntime-gpu are installed and share the import name, "
                                     "so either may run; keep one: pip uninstall -y onnxruntime (GPU machines) or "
                                     "pip uninstall -y onnxruntime-gpu (CPU)")
    return importlib.import_module("onnxruntime")


@lru_cache(maxsize=1)
def _both_builds() -> bool:
    return _installed("onnxruntime") and _installed("onnxruntime-gpu")


def _installed(distribution: str) -> bool:
    try:
        version(distribution)
    except PackageNotFoundError:
        return False
    return True
