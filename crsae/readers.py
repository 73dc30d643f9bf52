"""Every file crsae reads: .npy / .npz arrays, image files and folders, raw binary recordings (no torch).

For inference, each source becomes a list of ``Item`` (name, array). 1-D arrays are (B, channels, N) batches or, for long
recordings, one (channels, N) array that may be memory-mapped; images are (1, channels, Hh, Ww) in [0, 1].
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crsae.errors import DataError, ShapeError

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


RAW_SUFFIXES = (".bin", ".raw", ".dat")
RAW_DTYPES = {"int16": np.int16, "float32": np.float32}


@dataclass
class Item:
    name: str
    array: np.ndarray            # (B, channels, *size), or (channels, N) when ``long``
    long: bool = False           # one long 1-D recording (channels, N)
    image: bool = False


def as_batch(array: np.ndarray, kind: str, channels: int, name: str) -> np.ndarray:
    """Arrange an array as (B, channels, *size).

    1-D: (N,) one signal; (B, N) a batch when channels == 1, else (channels, N) one signal; (B, channels, N).
    2-D: (Hh, Ww) one image; (B, Hh, Ww) when channels == 1, else (channels, Hh, Ww); (B, channels, Hh, Ww).
    """
    spatial = 1 if kind == "1d" else 2
    if array.ndim == spatial:
        return array.reshape((1, 1) + array.shape)
    if array.ndim == spatial + 1:
        return array[:, None] if channels == 1 else array[None]
    if array.ndim == spatial + 2:
        return array
    raise ShapeError(f"{name} has shape {array.shape}, which is not a {kind} signal batch; "
                     f"pass (batch, channels, {'length' if kind == '1d' else 'height, width'})")


def read_input(path: str | os.PathLike, *, kind: str, channels: int, raw_dtype: str | None = None,
               raw_channels: int | None = None, long_from: int = 32768) -> list[Item]:
    """Items of an input path. 1-D signals longer than ``long_from`` samples become long (chunked) items."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"input {path} does not exist; pass a .npy/.npz file, an image or folder, or a recording")
    suffix = path.suffix.lower()
    if path.is_dir() or suffix in IMAGE_SUFFIXES:
        if kind != "2d":
            raise DataError(f"{path} holds images but the model is 1-D; use a 2-D model or pass arrays")
        files = list_images(path) if path.is_dir() else [path]
        return [Item(p.stem, load_image(p, channels)[None], image=True) for p in files]
    if suffix in RAW_SUFFIXES:
        return [_raw_item(path, kind, raw_dtype, raw_channels or channels)]
    if suffix == ".npy":
        try:
            array = np.load(path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError) as err:
            raise DataError(f"{path} is not a readable .npy file ({err}); save it with numpy.save") from None
        return [_array_item(path.stem, array, kind, channels, long_from)]
    if suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as archive:
                arrays = {key: archive[key] for key in archive.files}
        except (ValueError, OSError) as err:
            raise DataError(f"{path} is not a readable .npz file ({err}); save it with numpy.savez") from None
        if not arrays:
            raise DataError(f"{path} holds no arrays")
        return [_array_item(key, a, kind, channels, long_from) for key, a in arrays.items()]
    raise DataError(f"{path} has an unknown file type '{suffix}'; pass .npy, .npz, .png/.jpg, a folder of images, "
                    f"or a raw recording ({', '.join(RAW_SUFFIXES)}) with --raw-dtype")


def _array_item(name: str, array: np.ndarray, kind: str, channels: int, long_from: int) -> Item:
    if not np.issubdtype(array.dtype, np.number):
        raise DataError(f"{name} holds {array.dtype} values; pass a numeric array")
    batch = as_batch(array, kind, channels, name)
    if kind == "1d" and len(batch) == 1 and batch.shape[-1] > long_from:
        return Item(name, batch[0], long=True)
    return Item(name, batch)


def _raw_item(path: Path, kind: str, raw_dtype: str | None, channels: int) -> Item:
    """A raw interleaved recording (sample-major: s0c0 s0c1 ... s1c0 ...) as a memory-mapped (channels, N) view."""
    if kind != "1d":
        raise DataError(f"{path} is a raw recording but the model is 2-D; use a 1-D model")
    if raw_dtype not in RAW_DTYPES:
        raise DataError(f"{path} is a raw recording: pass --raw-dtype int16 or float32 (and --raw-channels)")
    dtype = np.dtype(RAW_DTYPES[raw_dtype])
    size = path.stat().st_size
    if size == 0 or size % (dtype.itemsize * channels):
        raise DataError(f"{path} has {size} bytes, not a whole number of {channels}-channel {raw_dtype} samples; "
                        "check --raw-dtype and --raw-channels")
    data = np.memmap(path, dtype=dtype, mode="r").reshape(-1, channels)
    return Item(path.stem, data.T, long=True)
