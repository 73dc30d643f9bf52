"""Training and inference data: plain arrays (.npy), image folders (PNG/JPEG), and batches drawn from them.

Every source yields float32 tensors (n, channels, N) or (n, channels, Hh, Ww). Randomness (order, crops, noise)
comes from a generator seeded with (seed, epoch), so any epoch can be redrawn exactly, which is what makes
``--resume`` continue a run exactly.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from .errors import DataError, ShapeError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def load_array(path: str | os.PathLike) -> np.ndarray:
    """Read a .npy file (no pickled objects) as float32, refusing NaN/Inf."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} does not exist; pass the path of a .npy file")
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as err:
        raise DataError(f"{path} is not a readable .npy file ({err}); save it with numpy.save") from None
    if not np.issubdtype(array.dtype, np.number):
        raise DataError(f"{path} holds {array.dtype} values; save a numeric array")
    array = array.astype(np.float32)
    if not np.all(np.isfinite(array)):
        raise ShapeError(f"{path} holds NaN or Inf; clean or interpolate those samples first")
    return array


def load_image(path: str | os.PathLike, channels: int = 1) -> np.ndarray:
    """Read an image as float32 (channels, Hh, Ww) in [0, 1]: grayscale (ITU-R 601 luma) for 1 channel, RGB for 3."""
    from PIL import Image, UnidentifiedImageError
    if channels not in (1, 3):
        raise ShapeError(f"images have 1 (grayscale) or 3 (RGB) channels, not {channels}")
    try:
        with Image.open(path) as im:
            im = im.convert("L" if channels == 1 else "RGB")
            pixels = np.asarray(im, dtype=np.float32) / 255.0
    except FileNotFoundError:
        raise DataError(f"{path} does not exist; pass an existing image") from None
    except (UnidentifiedImageError, OSError) as err:
        raise DataError(f"{path} is not a readable image ({err}); pass a PNG or JPEG file") from None
    return pixels[None] if channels == 1 else pixels.transpose(2, 0, 1).copy()


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files directly in ``folder``, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder; pass a folder of PNG/JPEG images")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"{folder} holds no PNG/JPEG images; pass a folder of images")
    return files


def load_images(folder: str | os.PathLike, channels: int = 1, limit: int | None = None) -> list[np.ndarray]:
    """All images of a folder (the first ``limit`` by name), each (channels, Hh, Ww) in [0, 1]."""
    return [load_image(p, channels) for p in list_images(folder)[:limit]]


def add_noise(clean: torch.Tensor, sigma: float, generator: torch.Generator) -> torch.Tensor:
    """clean + sigma * N(0, 1), same shape."""
    return clean + sigma * torch.randn(clean.shape, generator=generator, dtype=clean.dtype)


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


class ArrayData:
    """Fixed examples (n, channels, *size), shuffled each epoch.

    ``clean`` is the target; ``noisy`` the input (when the noise is part of the data, e.g. a simulation), or
    fresh noise of std ``noise_sigma`` is drawn each epoch (supervised denoising), or neither (input = target).
    """

    def __init__(self, clean: np.ndarray, noisy: np.ndarray | None = None, *, noise_sigma: float = 0.0):
        self.clean = torch.as_tensor(np.ascontiguousarray(clean, dtype=np.float32))
        self.noisy = None if noisy is None else torch.as_tensor(np.ascontiguousarray(noisy, dtype=np.float32))
        if self.noisy is not None and self.noisy.shape != self.clean.shape:
            raise ShapeError(f"noisy {tuple(self.noisy.shape)} and clean {tuple(self.clean.shape)} differ in shape")
        self.noise_sigma = noise_sigma

    def __len__(self) -> int:
        return len(self.clean)

    def batches(self, epoch: int, batch_size: int, seed: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield (input, target) batches of epoch ``epoch`` (deterministic in seed and epoch)."""
        g = _epoch_generator(seed, epoch)
        order = torch.randperm(len(self.clean), generator=g)
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            target = self.clean[idx]
            if self.noisy is not None:
                yield self.noisy[idx], target
            elif self.noise_sigma > 0:
                yield add_noise(target, self.noise_sigma, g), target
            else:
                yield target, target


class ImageCropData:
    """Random square crops of a set of images, fresh each epoch, with Gaussian noise of std ``noise_sigma``
    (on [0, 1] images) for supervised denoising.

    images : list of arrays (channels, Hh, Ww); crop_size : side of the crops; crops_per_epoch : examples per epoch
    """

    def __init__(self, images: list[np.ndarray], *, crop_size: int, crops_per_epoch: int, noise_sigma: float):
        small = [im.shape for im in images if min(im.shape[1:]) < crop_size]
        if small:
            raise ShapeError(f"{len(small)} images are smaller than crop_size {crop_size} (e.g. {small[0][1:]}); "
                             "lower --crop-size")
        self.images = [torch.as_tensor(np.ascontiguousarray(im)) for im in images]
        self.crop_size, self.crops_per_epoch, self.noise_sigma = crop_size, crops_per_epoch, noise_sigma

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

    def batches(self, epoch: int, batch_size: int, seed: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        clean = self.crops(epoch, seed)
        g = _epoch_generator(seed + 7919, epoch)
        for start in range(0, len(clean), batch_size):
            target = clean[start:start + batch_size]
            yield (add_noise(target, self.noise_sigma, g) if self.noise_sigma > 0 else target), target
