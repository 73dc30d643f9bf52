"""Training data sources described as plain dicts (stored in checkpoints so ``--resume`` can rebuild them).

``{"source": "simulate", **SimulationConfig}``, ``{"source": "npz", "path": ...}`` (a file from ``crsae simulate``),
``{"source": "array", "path": ..., "noise_sigma": ...}`` or ``{"source": "images", "path": ..., "channels": ...,
"crop_size": ..., "crops_per_epoch": ..., "noise_sigma": ..., "max_images": ...}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .data import ArrayData, ImageCropData, load_array, load_images
from .errors import DataError
from .simulate import SimulationConfig, simulate


@dataclass
class Source:
    data: object                        # ArrayData or ImageCropData
    kind: str                           # "1d" or "2d"
    channels: int
    truth: np.ndarray | None = None     # ground-truth dictionary (C, channels, K), when known
    sigma: float | None = None          # noise std, when known


def build_source(spec: dict) -> Source:
    kind = spec["source"]
    if kind == "simulate":
        sim = simulate(SimulationConfig(**{k: v for k, v in spec.items() if k != "source"}))
        return Source(ArrayData(sim.clean, sim.signals), "1d", 1, sim.dictionary, sim.sigma)
    path = Path(spec["path"])
    if kind == "npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                signals, clean = z["signals"], z["clean"]
                truth = z["dictionary"] if "dictionary" in z.files else None
                sigma = float(z["sigma"]) if "sigma" in z.files else None
        except (OSError, ValueError, KeyError) as err:
            raise DataError(f"{path} is not a crsae simulation .npz ({err}); write one with crsae simulate") from None
        return Source(ArrayData(clean, signals), "1d", signals.shape[1], truth, sigma)
    if kind == "array":
        array = load_array(path)
        if array.ndim == 2:
            array = array[:, None]
        if array.ndim not in (3, 4):
            raise DataError(f"{path} has shape {array.shape}; pass (n, channels, length) or (n, channels, h, w)")
        return Source(ArrayData(array, noise_sigma=spec.get("noise_sigma", 0.0)), "1d" if array.ndim == 3 else "2d",
                      array.shape[1], None, spec.get("noise_sigma") or None)
    if kind == "images":
        images = load_images(path, spec["channels"], spec.get("max_images"))
        data = ImageCropData(images, crop_size=spec["crop_size"], crops_per_epoch=spec["crops_per_epoch"],
                             noise_sigma=spec["noise_sigma"])
        return Source(data, "2d", spec["channels"], None, spec["noise_sigma"] or None)
    raise DataError(f"unknown data source {kind!r}")


def spec_for_path(path: str, *, channels: int, crop_size: int, crops_per_epoch: int, noise_sigma: float,
                  max_images: int | None) -> dict:
    """The source spec of a ``--data`` path: an image folder, a .npy array or a simulation .npz."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"--data {p} does not exist; pass an image folder, a .npy array or a crsae simulate .npz")
    if p.is_dir():
        return {"source": "images", "path": str(p.resolve()), "channels": channels, "crop_size": crop_size,
                "crops_per_epoch": crops_per_epoch, "noise_sigma": noise_sigma, "max_images": max_images}
    if p.suffix == ".npz":
        return {"source": "npz", "path": str(p.resolve())}
    if p.suffix == ".npy":
        return {"source": "array", "path": str(p.resolve()), "noise_sigma": noise_sigma}
    raise DataError(f"--data {p}: unknown type; pass an image folder, a .npy array or a crsae simulate .npz")
