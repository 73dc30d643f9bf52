"""Training data: the sources a run draws batches from (arrays, simulations, image crops), described as plain
dicts stored in checkpoints so ``--resume`` can rebuild them.

Every source yields batches ``(input, target, sigma)``: float32 tensors (n, channels, N) or (n, channels, Hh, Ww),
and the std of the noise added to that batch when it is drawn per batch (blind training over a range of noise,
``noise_sigma_max``), else None. Randomness (order, crops, noise) comes from a generator seeded with (seed,
epoch), so any epoch can be redrawn exactly, which is what makes ``--resume`` continue a run exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from crsae.errors import ConfigError, DataError, ShapeError
from crsae.readers import check_dtype, check_shape, check_values, load_array, load_images, load_npz
from crsae.simulate import SimulationConfig, simulate


def add_noise(clean: torch.Tensor, sigma: float, generator: torch.Generator) -> torch.Tensor:
    """clean + sigma * N(0, 1), same shape."""
    return clean + sigma * torch.randn(clean.shape, generator=generator, dtype=clean.dtype)


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


class _Noise:
    """The noise of supervised denoising: std ``sigma``, or, with ``sigma_max``, a std drawn per batch uniformly
    from [sigma, sigma_max] (blind training: one model for a range of noise levels)."""

    def __init__(self, sigma: float, sigma_max: float | None):
        self.sigma, self.sigma_max = sigma, sigma_max

    def __bool__(self) -> bool:
        return self.sigma > 0 or self.sigma_max is not None

    def add(self, clean: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, float | None]:
        """(noisy batch, its sigma when drawn, else None); the draw comes from ``generator`` before the noise."""
        if self.sigma_max is None:
            return add_noise(clean, self.sigma, generator), None
        u = float(torch.rand((), generator=generator, dtype=torch.float64))
        sigma = self.sigma + (self.sigma_max - self.sigma) * u
        return add_noise(clean, sigma, generator), sigma


class ArrayData:
    """Fixed examples (n, channels, *size), shuffled each epoch.

    ``clean`` is the target; ``noisy`` the input (when the noise is part of the data, e.g. a simulation), or
    fresh noise of std ``noise_sigma`` (or drawn per batch from [noise_sigma, noise_sigma_max]) is drawn each epoch
    (supervised denoising), or neither (input = target).
    """

    def __init__(self, clean: np.ndarray, noisy: np.ndarray | None = None, *, noise_sigma: float = 0.0,
                 noise_sigma_max: float | None = None):
        self.clean = torch.as_tensor(np.ascontiguousarray(clean, dtype=np.float32))
        self.noisy = None if noisy is None else torch.as_tensor(np.ascontiguousarray(noisy, dtype=np.float32))
        if self.noisy is not None and self.noisy.shape != self.clean.shape:
            raise ShapeError(f"noisy {tuple(self.noisy.shape)} and clean {tuple(self.clean.shape)} differ in shape")
        self.noise = _Noise(noise_sigma, noise_sigma_max)

    def __len__(self) -> int:
        return len(self.clean)

    def batches(self, epoch: int, batch_size: int, seed: int) -> Iterator[tuple[torch.Tensor, torch.Tensor, float | None]]:
        """Yield (input, target, sigma) batches of epoch ``epoch`` (deterministic in seed and epoch)."""
        g = _epoch_generator(seed, epoch)
        order = torch.randperm(len(self.clean), generator=g)
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            target = self.clean[idx]
            if self.noisy is not None:
                yield self.noisy[idx], target, None
            elif self.noise:
                noisy, sigma = self.noise.add(target, g)
                yield noisy, target, sigma
            else:
                yield target, target, None


class ImageCropData:
    """Random square crops of a set of images, fresh each epoch, with Gaussian noise of std ``noise_sigma``
    (on [0, 1] images) for supervised denoising.

    images : list of arrays (channels, Hh, Ww); crop_size : side of the crops; crops_per_epoch : examples per epoch
    """

    def __init__(self, images: list[np.ndarray], *, crop_size: int, crops_per_epoch: int, noise_sigma: float,
                 noise_sigma_max: float | None = None):
        small = [im.shape for im in images if min(im.shape[1:]) < crop_size]
        if small:
            raise ShapeError(f"{len(small)} images are smaller than crop_size {crop_size} (e.g. {small[0][1:]}); "
                             "lower --crop-size")
        self.images = [torch.as_tensor(np.ascontiguousarray(im)) for im in images]
        self.crop_size, self.crops_per_epoch = crop_size, crops_per_epoch
        self.noise = _Noise(noise_sigma, noise_sigma_max)

    def __len__(self) -> int:
        return self.crops_per_epoch

    def crops(self, epoch: int, seed: int) -> torch.Tensor:
        """All crops of one epoch: (crops_per_epoch, channels, crop, crop)."""
        g, s = _epoch_generator(seed, epoch), self.crop_size
        out = []
        for _ in range(self.crops_per_epoch):
            im = self.images[int(torch.randint(len(self.images), (1,), generator=g))]
            top = int(torch.randint(im.shape[1] - s + 1, (1,), generator=g))
            left = int(torch.randint(im.shape[2] - s + 1, (1,), generator=g))
            out.append(im[:, top:top + s, left:left + s])
        return torch.stack(out)

    def batches(self, epoch: int, batch_size: int, seed: int) -> Iterator[tuple[torch.Tensor, torch.Tensor, float | None]]:
        """Yield (input, target, sigma) batches of epoch ``epoch`` (deterministic in seed and epoch)."""
        clean = self.crops(epoch, seed)
        g = _epoch_generator(seed + 7919, epoch)
        for start in range(0, len(clean), batch_size):
            target = clean[start:start + batch_size]
            if self.noise:
                noisy, sigma = self.noise.add(target, g)
                yield noisy, target, sigma
            else:
                yield target, target, None


# --- sources as plain dicts (stored in checkpoints) ---------------------------------------------------------
# Training data sources described as plain dicts (stored in checkpoints so ``--resume`` can rebuild them).
# 
# ``{"source": "simulate", **SimulationConfig}``, ``{"source": "npz", "path": ...}`` (a file from ``crsae simulate``),
# ``{"source": "array", "path": ..., "noise_sigma": ...}`` or ``{"source": "images", "path": ..., "channels": ...,
# "crop_size": ..., "crops_per_epoch": ..., "noise_sigma": ..., "max_images": ...}``; the last two may hold
# ``"noise_sigma_max"`` (noise drawn per batch from [noise_sigma, noise_sigma_max]).

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
        z = load_npz(path, signals=False)       # checked: readable, no objects, sizes as declared
        missing = [key for key in ("signals", "clean") if key not in z]
        if missing:
            raise DataError(f"{path} is not a crsae simulation .npz (it lacks {', '.join(missing)}); write one with "
                            "crsae simulate")
        signals, clean = z["signals"], z["clean"]
        for key in ("signals", "clean"):
            check_dtype(z[key].dtype, f"{path}:{key}")
            check_shape(z[key].shape, f"{path}:{key}")
            check_values(z[key], f"{path}:{key}")
        if signals.ndim != 3 or signals.shape != clean.shape:
            raise DataError(f"{path}: signals {signals.shape} and clean {clean.shape} are not two (n, channels, "
                            "length) arrays of one shape; write the file with crsae simulate")
        truth = z.get("dictionary")
        sigma = float(z["sigma"]) if "sigma" in z and z["sigma"].size == 1 else None
        return Source(ArrayData(clean, signals), "1d", signals.shape[1], truth, sigma)
    if kind == "array":
        array = load_array(path)
        if array.ndim == 2:
            array = array[:, None]
        if array.ndim not in (3, 4):
            raise DataError(f"{path} has shape {array.shape}; pass (n, channels, length) or (n, channels, h, w)")
        data = ArrayData(array, noise_sigma=spec.get("noise_sigma", 0.0), noise_sigma_max=spec.get("noise_sigma_max"))
        return Source(data, "1d" if array.ndim == 3 else "2d", array.shape[1], None, _known_sigma(spec))
    if kind == "images":
        images = load_images(path, spec["channels"], spec.get("max_images"))
        data = ImageCropData(images, crop_size=spec["crop_size"], crops_per_epoch=spec["crops_per_epoch"],
                             noise_sigma=spec["noise_sigma"], noise_sigma_max=spec.get("noise_sigma_max"))
        return Source(data, "2d", spec["channels"], None, _known_sigma(spec))
    raise DataError(f"unknown data source {kind!r}")


def _known_sigma(spec: dict) -> float | None:
    """The noise std a model of this data refers to: the fixed noise, or the middle of a drawn range."""
    top = spec.get("noise_sigma_max")
    sigma = spec.get("noise_sigma", 0.0) if top is None else (spec.get("noise_sigma", 0.0) + top) / 2
    return sigma or None


def spec_for_path(path: str, *, channels: int, crop_size: int, crops_per_epoch: int, noise_sigma: float,
                  max_images: int | None, noise_sigma_max: float | None = None) -> dict:
    """The source spec of a ``--data`` path: an image folder, a .npy array or a simulation .npz."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"--data {p} does not exist; pass an image folder, a .npy array or a crsae simulate .npz")
    drawn = {} if noise_sigma_max is None else {"noise_sigma_max": noise_sigma_max}
    if p.is_dir():
        return {"source": "images", "path": str(p.resolve()), "channels": channels, "crop_size": crop_size,
                "crops_per_epoch": crops_per_epoch, "noise_sigma": noise_sigma, "max_images": max_images, **drawn}
    if p.suffix == ".npz":
        if drawn:
            raise ConfigError(f"--noise-sigma-max draws the noise added to images or .npy arrays, but {p.name} is a "
                              "simulation whose noise is part of the file; drop --noise-sigma-max")
        return {"source": "npz", "path": str(p.resolve())}
    if p.suffix == ".npy":
        return {"source": "array", "path": str(p.resolve()), "noise_sigma": noise_sigma, **drawn}
    raise DataError(f"--data {p}: unknown type; pass an image folder, a .npy array or a crsae simulate .npz")
