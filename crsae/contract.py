"""The ONNX contract as data (``export/contract.json``, explained in ``export/CONTRACT.md``).

The exporter, the validator, the golden-vector generator and the runtime all read it from here.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

CONTRACT_PATH = Path(__file__).with_name("contract.json")


@lru_cache(maxsize=1)
def contract() -> dict:
    return json.loads(CONTRACT_PATH.read_text())


def axes(name: str, kind: str) -> list[str]:
    """Axis names of input or output ``name`` for a "1d" or "2d" model."""
    spec = contract()["inputs"].get(name) or contract()["outputs"][name]
    return spec["axes_1d" if kind == "1d" else "axes_2d"]


def atol(reference: np.ndarray, num_layers: int, *, dtype: str = "float32") -> float:
    """The contract's tolerance for one output: floor + per_layer * T * max(1, max |reference|)."""
    floor, per_layer = tolerance_constants(dtype)
    scale = max(1.0, float(np.max(np.abs(reference)))) if reference.size else 1.0
    return floor + per_layer * num_layers * scale


def tolerance_constants(dtype: str = "float32") -> tuple[float, float]:
    """(atol_floor, atol_per_layer) of the tolerance rule for a float32 or float16 export."""
    tol = contract()["tolerance"]
    prefix = "" if dtype == "float32" else "float16_"
    return tol[prefix + "atol_floor"], tol[prefix + "atol_per_layer"]


def message(name: str, **values) -> str:
    """One of the contract's messages, which every runtime words identically (``messages`` in contract.json)."""
    return contract()["messages"][name].format(**values)


def size_text(size) -> str:
    """A spatial size as the contract's messages write it: axes joined by 'x' (``(7, 96)`` -> ``7x96``)."""
    return "x".join(str(int(n)) for n in size)
