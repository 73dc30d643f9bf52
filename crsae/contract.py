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


def has_noise_input(meta: dict) -> bool:
    """Whether a model's graph takes the optional ``noise_sigma`` input (metadata ``noise_sigma_input``, false
    when absent: exports made before it existed)."""
    return bool(meta.get("noise_sigma_input", contract()["optional_metadata"]["noise_sigma_input"]))


def encoder_step(meta: dict) -> float | None:
    """The accelerated encoder's s (metadata ``encoder`` "accelerated" and ``step``), or None for the paper's
    encoder (``encoder`` "paper" or absent: exports made before it existed)."""
    if meta.get("encoder", contract()["optional_metadata"]["encoder"]) == "paper":
        return None
    return float(meta["step"])


# Keys every runtime needs to run a model, and the checks on their values.
_POSITIVE_INTS = ("channels", "num_filters", "kernel_size", "stride", "num_layers", "min_size")


def decode_metadata(props: dict[str, str], source: str) -> dict:
    """Typed metadata from ONNX ``metadata_props`` (each value the JSON encoding of the sidecar's value), checked
    against the contract; raises ModelFormatError naming the first problem and the fix."""
    from crsae.errors import ModelFormatError
    spec = contract()
    if "format" not in props:
        raise ModelFormatError(f"{source} is an ONNX model but not a crsae export (no format={spec['format']} "
                               "metadata); export it with crsae export")
    meta = {}
    for key, text in props.items():
        try:
            meta[key] = json.loads(text)
        except json.JSONDecodeError:
            raise ModelFormatError(f"{source}: metadata {key!r} holds {text[:40]!r}, which is not JSON; re-export the "
                                   "model with crsae export") from None
    return check_metadata(meta, source)


def check_metadata(meta: dict, source: str) -> dict:
    """``meta`` unchanged if it is the metadata of a crsae export this version can run, else ModelFormatError."""
    from crsae.errors import ModelFormatError
    spec = contract()
    if meta.get("format") != spec["format"]:
        raise ModelFormatError(f"{source} is not a crsae export (metadata format is {meta.get('format')!r}, expected "
                               f"{spec['format']!r}); export it with crsae export")
    version = meta.get("contract_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ModelFormatError(f"{source} has contract_version {version!r}, expected a positive integer; re-export "
                               "it with crsae export")
    if version > spec["contract_version"]:
        raise ModelFormatError(f"{source} uses contract version {version}, newer than {spec['contract_version']}; "
                               "upgrade crsae")
    missing = [key for key in spec["metadata_keys"] if key not in meta]
    if missing:
        raise ModelFormatError(f"{source} lacks metadata {', '.join(missing)}; re-export it with this crsae "
                               "(crsae export)")
    problems = []
    if meta["kind"] not in ("1d", "2d"):
        problems.append(f"kind {meta['kind']!r} (expected '1d' or '2d')")
    problems += [f"{key} {meta[key]!r} (expected a positive integer)" for key in _POSITIVE_INTS
                 if isinstance(meta[key], bool) or not isinstance(meta[key], int) or meta[key] < 1]
    if isinstance(meta["chunk_halo"], bool) or not isinstance(meta["chunk_halo"], int) or meta["chunk_halo"] < 0:
        problems.append(f"chunk_halo {meta['chunk_halo']!r} (expected an integer >= 0)")
    outputs = meta["outputs"]
    if (not isinstance(outputs, list) or not outputs or len(set(outputs)) != len(outputs)
            or any(o not in spec["outputs"] for o in outputs)):
        problems.append(f"outputs {outputs!r} (expected one or both of {', '.join(spec['outputs'])})")
    if meta["dtype"] not in ("float32", "float16"):
        problems.append(f"dtype {meta['dtype']!r} (expected 'float32' or 'float16')")
    if "noise_sigma_input" in meta and not isinstance(meta["noise_sigma_input"], bool):
        problems.append(f"noise_sigma_input {meta['noise_sigma_input']!r} (expected true or false)")
    elif has_noise_input(meta) and meta["threshold_mode"] == "bias":
        problems.append("noise_sigma_input true with threshold_mode 'bias' (free biases have no sigma)")
    encoder = meta.get("encoder", spec["optional_metadata"]["encoder"])
    step = meta.get("step")
    if encoder not in ("paper", "accelerated"):
        problems.append(f"encoder {encoder!r} (expected 'paper' or 'accelerated')")
    elif encoder == "accelerated" and (isinstance(step, bool) or not isinstance(step, (int, float))
                                       or not 0 < step < 2):
        problems.append(f"step {step!r} (the accelerated encoder needs a number in (0, 2))")
    elif encoder == "paper" and step is not None:
        problems.append(f"step {step!r} with the paper's encoder (a step belongs to encoder 'accelerated')")
    rank = meta.get("rank")
    if rank is not None and (isinstance(rank, bool) or not isinstance(rank, int) or rank < 1):
        problems.append(f"rank {rank!r} (expected a positive integer, or absent for full filters)")
    elif rank is not None and (meta["kind"] != "1d" or encoder != "paper"):
        problems.append(f"rank {rank!r} with a {meta['kind']} model on encoder {encoder!r} (factored graphs are "
                        "1-D, paper encoder)")
    if problems:
        raise ModelFormatError(f"{source} has metadata {problems[0]}; re-export it with crsae export")
    return meta
