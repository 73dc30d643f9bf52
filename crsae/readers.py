"""Every file crsae reads: .npy / .npz arrays, image files and folders, raw binary recordings (no torch).

For inference, each source becomes a list of ``Item`` (name, array). 1-D arrays are (B, channels, N) batches or, for long
recordings, one (channels, N) ``Recording`` read through bounded windows; images are (1, channels, Hh, Ww) in [0, 1].

What is checked, before any data is loaded (every failure is a DataError or ShapeError naming the file and the fix):

- .npy: the header only is read first; the declared shape must fit the file's size (a header claiming terabytes
  is refused, not allocated), the array must hold real numbers (no objects, which are never unpickled; no
  structured, complex, bool, string or date values), have at least one dimension and no empty axis.
- .npz: each member's header likewise, against the member's size in the archive and this machine's memory;
  corrupt archives are refused. A member holding one long 1-D signal, stored uncompressed (``numpy.savez``), is
  read through windows like an .npy; compressed members (``numpy.savez_compressed``) and batches are read whole.
- Values: NaN / Inf are refused; integers beyond 2^24 and float64 beyond float32's range cannot be held by a
  float32 model: the first are rounded with a warning, the second refused.
- Images (Pillow, which crsae already needs): read at their real bit depth. 8-bit (and 1-bit, palette) images
  are divided by 255, 16-bit grayscale ones by 65535, 32-bit float ones are taken as they are (expected on
  [0, 1]). 16-bit colour (Pillow would silently keep only 8 bits) and 32-bit integer images are refused, as are
  images of more than ``Image.MAX_IMAGE_PIXELS`` pixels (Pillow's decompression-bomb limit) and multi-frame files.
  Colour to grayscale (ITU-R 601 luma), grayscale to RGB, and dropping a non-opaque alpha channel are announced
  with a ``DataWarning`` (``crsae`` prints it once as ``warning: ...``).

Why Pillow and not imageio or tifffile: Pillow is already a dependency, reads every format crsae takes at its real
depth through its modes (``L``/``P``/``RGB`` 8-bit, ``I;16*`` 16-bit, ``F`` float32), and its tile descriptor
tells when it would narrow 16-bit colour, which is then refused rather than truncated; imageio reads PNG through
Pillow anyway, and tifffile would add a dependency (and imagecodecs for LZW TIFFs) for TIFF alone.
"""

from __future__ import annotations

import os
import re
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crsae.errors import DataError, DataWarning, ShapeError

try:                                                    # numpy >= 2
    from numpy.lib._format_impl import _read_array_header
except ImportError:                                     # pragma: no cover - numpy 1.x
    from numpy.lib.format import _read_array_header

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
FLOAT32_EXACT = 2 ** 24                                 # integers above this lose precision in float32
FLOAT32_MAX = float(np.finfo(np.float32).max)


# --- arrays ------------------------------------------------------------------------------------------------
@dataclass
class NpyHeader:
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran: bool
    offset: int                 # bytes before the data

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=object)) * self.dtype.itemsize


def read_npy_header(fp, name: str) -> NpyHeader:
    """The header of an .npy stream (positioned at its start), checked: DataError if it is not one."""
    start = fp.tell()
    try:
        version = np.lib.format.read_magic(fp)
        shape, fortran, dtype = _read_array_header(fp, version)
    except (ValueError, OSError, EOFError, SyntaxError, TypeError, KeyError, zlib.error,
            zipfile.BadZipFile) as err:
        raise DataError(f"{name} is not a readable .npy array ({_reason(err)}); save it with numpy.save") from None
    return NpyHeader(tuple(int(n) for n in shape), np.dtype(dtype), bool(fortran), fp.tell() - start)


def check_dtype(dtype: np.dtype, name: str) -> None:
    """Refuse what is not an array of real numbers (the message says what it is and what to pass)."""
    if dtype.hasobject:
        raise DataError(f"{name} holds Python objects, which crsae never unpickles; save a numeric array")
    if dtype.names is not None or dtype.subdtype is not None:
        raise DataError(f"{name} holds a structured dtype {dtype}; save one plain numeric array")
    if np.issubdtype(dtype, np.complexfloating):
        raise DataError(f"{name} holds complex values; pass the part you mean (numpy.real, numpy.abs) as a real "
                        "array")
    if np.issubdtype(dtype, np.bool_):
        raise DataError(f"{name} holds booleans; pass numbers (e.g. array.astype(numpy.float32))")
    if dtype.kind not in "iuf":                         # (timedelta64 counts as an integer type to numpy)
        raise DataError(f"{name} holds {dtype} values, not numbers; save a numeric array")


def check_shape(shape: tuple[int, ...], name: str) -> None:
    if len(shape) == 0:
        raise ShapeError(f"{name} is a 0-d array (a single number); pass signals (batch, channels, length)")
    if 0 in shape:
        raise ShapeError(f"{name} has shape {tuple(shape)}, with an empty axis: it holds no samples")


def check_values(array: np.ndarray, name: str) -> None:
    """NaN / Inf refused, float64 beyond float32 refused, large integers announced (they are rounded)."""
    if np.issubdtype(array.dtype, np.floating):
        if not np.all(np.isfinite(array)):
            raise ShapeError(f"{name} holds NaN or Inf; clean or interpolate those samples first")
        if array.dtype.itemsize > 4 and array.size and float(np.max(np.abs(array))) > FLOAT32_MAX:
            raise ShapeError(f"{name} holds values beyond float32's range (max |value| "
                             f"{float(np.max(np.abs(array))):.3g}); rescale it first")
    elif array.dtype.kind in "iu" and array.dtype.itemsize >= 4 and array.size:
        top = max(abs(int(array.min())), abs(int(array.max())))
        if top > FLOAT32_EXACT:
            warnings.warn(DataWarning(f"{name} holds integers up to {top}, beyond 2^24: float32 rounds them "
                                      "(relative error below 6e-8)"), stacklevel=3)


def _memory_limit() -> int | None:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _check_memory(nbytes: int, name: str, hint: str) -> None:
    limit = _memory_limit()
    if limit is not None and nbytes > limit:
        raise DataError(f"{name} declares {_size(nbytes)} of data, more than this machine's {_size(limit)} of "
                        f"memory; {hint}")


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def _reason(err: BaseException) -> str:
    text = str(err).splitlines()[0][:120] if str(err) else ""
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _open_npy(path: Path) -> NpyHeader:
    """The checked header of an .npy file: readable, numeric, and as large as its header says."""
    _check_file(path, ".npy file")
    try:
        with open(path, "rb") as f:
            header = read_npy_header(f, str(path))
    except OSError as err:
        raise DataError(f"{path} cannot be read ({_reason(err)})") from None
    check_dtype(header.dtype, str(path))
    check_shape(header.shape, str(path))
    available = path.stat().st_size - header.offset
    if header.nbytes > available:
        raise DataError(f"{path} declares shape {header.shape} ({_size(header.nbytes)}) but holds "
                        f"{_size(max(available, 0))} of data: it is truncated or corrupt; save it again")
    return header


def _check_file(path: Path, what: str) -> None:
    if not path.exists():
        raise DataError(f"{path} does not exist; pass the path of a {what}")
    if path.is_dir():
        raise DataError(f"{path} is a folder; pass the path of a {what}")
    if not path.is_file():
        raise DataError(f"{path} is not a regular file (a device or a pipe?); pass the path of a {what}")
    if not os.access(path, os.R_OK):
        raise DataError(f"{path} is not readable (permissions); fix them or pass another file")


def load_array(path: str | os.PathLike) -> np.ndarray:
    """Read a whole .npy file (no pickled objects) as float32, after the checks of the module doc."""
    path = Path(path)
    header = _open_npy(path)
    _check_memory(header.nbytes * 2, str(path), "pass a smaller array")
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise DataError(f"{path} is not a readable .npy file ({_reason(err)}); save it with numpy.save") from None
    check_values(array, str(path))
    return array.astype(np.float32)


def load_npz(path: str | os.PathLike, *, signals: bool = True, window=None) -> dict[str, np.ndarray]:
    """Every array of an .npz archive, in the archive's order: the archive and each header checked (module doc),
    and with ``signals`` each array's dtype, shape and values too (``False`` for archives that also hold
    metadata, e.g. a simulation's 0-d sigma and JSON config: the caller checks the arrays it uses).

    ``window(key, header)``: for a member it is true of that is stored uncompressed (``numpy.savez``), a
    ``Recording`` of its samples in the file is returned instead of the array, read later through bounded
    windows (the member's (channels, N) from ``header``'s shape, as ``batch_shape`` arranges it); compressed
    members (``numpy.savez_compressed``) are always read whole."""
    path = Path(path)
    _check_file(path, ".npz file")
    arrays = {}
    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            limit = _memory_limit()
            total = 0
            for member in members:
                key = member.filename[:-4] if member.filename.endswith(".npy") else member.filename
                name = f"{path}:{key}"
                if not member.filename.endswith(".npy"):
                    raise DataError(f"{path} holds {member.filename!r}, which is not an array; save the archive "
                                    "with numpy.savez")
                with archive.open(member) as f:
                    header = read_npy_header(f, name)
                    if header.dtype.hasobject or signals:
                        check_dtype(header.dtype, name)
                    if signals:
                        check_shape(header.shape, name)
                    if header.offset + header.nbytes != member.file_size:
                        raise DataError(f"{name} declares shape {header.shape} ({_size(header.nbytes)}) but the "
                                        f"archive holds {_size(max(member.file_size - header.offset, 0))} for it: "
                                        "it is truncated or corrupt; save it again")
                    if window is not None and _stored(member) and window(key, header):
                        arrays[key] = _member_recording(path, archive, member, header, name)
                        continue
                    total += header.nbytes
                    if limit is not None and total > limit:
                        _check_memory(total, str(path), "an .npz is read whole: save long recordings as .npy")
                    f.seek(0)
                    array = np.lib.format.read_array(f, allow_pickle=False)
                if signals:
                    check_values(array, name)
                arrays[key] = array
    except zipfile.BadZipFile as err:
        raise DataError(f"{path} is not a readable .npz archive ({_reason(err)}); save it with numpy.savez") from None
    except (ValueError, OSError, EOFError, zlib.error, NotImplementedError) as err:
        if isinstance(err, DataError):
            raise
        raise DataError(f"{path} is not a readable .npz archive ({_reason(err)}); save it with numpy.savez") from None
    if not arrays:
        raise DataError(f"{path} holds no arrays; save some with numpy.savez")
    return arrays


def _stored(member: zipfile.ZipInfo) -> bool:
    return member.compress_type == zipfile.ZIP_STORED and not member.flag_bits & 0x1      # neither packed nor encrypted


def _member_recording(path: Path, archive: zipfile.ZipFile, member: zipfile.ZipInfo, header: NpyHeader,
                      name: str) -> "Recording":
    """A stored member's array as a windowed (channels, N) Recording: its bytes lie as they are in the file, after
    the member's local header (whose name and extra fields may differ in length from the directory's)."""
    local = archive.fp
    local.seek(member.header_offset)
    fixed = local.read(30)
    if len(fixed) != 30 or fixed[:4] != b"PK\x03\x04":
        raise DataError(f"{name}: the archive's local header is damaged; save it again with numpy.savez")
    start = member.header_offset + 30 + int.from_bytes(fixed[26:28], "little") + int.from_bytes(fixed[28:30], "little")
    channels, length = (1, header.shape[0]) if len(header.shape) == 1 else header.shape[-2:]
    return Recording(path, header.dtype, channels, length, offset=start + header.offset,
                     interleaved=header.fortran and channels > 1, name=name)


# --- images ------------------------------------------------------------------------------------------------
IMAGE_DEPTHS = ("uint8", "uint16", "float32")
_ALPHA_MODES = ("LA", "La", "PA", "RGBA", "RGBa")
_WIDE_RAWMODE = re.compile(r"^(RGB|RGBA|RGBX|RGBa|LA|La|L|P|PA|CMYK|LAB|YCbCr);16")   # 16 bits per channel
_GRAY_MODES = ("1", "L", "LA", "La", "I;16", "I;16B", "I;16L", "I;16N", "F")


@dataclass
class Picture:
    pixels: np.ndarray          # float32 (channels, Hh, Ww): integer images on [0, 1], float ones as stored
    depth: str                  # "uint8", "uint16" or "float32": what the file holds per sample


def read_image(path: str | os.PathLike, channels: int = 1) -> Picture:
    """Read an image at its real depth (module doc) as ``channels`` (1 grayscale, 3 RGB) planes."""
    from PIL import Image, UnidentifiedImageError
    path = Path(path)
    if channels not in (1, 3):
        raise ShapeError(f"images have 1 (grayscale) or 3 (RGB) channels, not {channels}")
    _check_file(path, "image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                return _picture(im, path, channels)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise DataError(f"{path} declares more pixels than crsae reads ({_reason(err)}); crop or tile it "
                        "first") from None
    except UnidentifiedImageError:
        raise DataError(f"{path} is not an image Pillow can read; pass a PNG, JPEG, BMP or TIFF file") from None
    except (OSError, ValueError, SyntaxError, EOFError, zlib.error, MemoryError) as err:
        if isinstance(err, (DataError, ShapeError)):
            raise
        raise DataError(f"{path} is not a readable image ({_reason(err)}); pass an intact PNG, JPEG, BMP or "
                        "TIFF file") from None


def _picture(im, path: Path, channels: int) -> Picture:
    from PIL import Image
    if getattr(im, "n_frames", 1) > 1:
        raise DataError(f"{path} holds {im.n_frames} frames; crsae reads single images: save each frame apart")
    width, height = im.size
    if width < 1 or height < 1:
        raise ShapeError(f"{path} is {width}x{height} pixels: it holds no pixels")
    if Image.MAX_IMAGE_PIXELS and width * height > Image.MAX_IMAGE_PIXELS:
        raise DataError(f"{path} declares {width}x{height} pixels, more than crsae reads "
                        f"({Image.MAX_IMAGE_PIXELS} pixels, Pillow's decompression-bomb limit); crop or tile it")
    mode = im.mode
    rawmodes = [str(t.args[0] if isinstance(t.args, tuple) else t.args) for t in (im.tile or [])]
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        depth, pixels = "uint16", np.asarray(im).astype(np.float32)[None] / 65535.0
    elif mode == "F":
        depth, pixels = "float32", np.asarray(im, dtype=np.float32)[None]
        if not np.all(np.isfinite(pixels)):
            raise ShapeError(f"{path} holds NaN or Inf pixels; clean them first")
    elif mode in ("I", "I;32", "I;32B", "I;32L"):
        raise DataError(f"{path} is a 32-bit integer image, which crsae does not read; convert it to 16-bit "
                        "integers or 32-bit floats")
    elif any(_WIDE_RAWMODE.match(r) for r in rawmodes):
        raise DataError(f"{path} is a 16-bit colour image ({', '.join(rawmodes)}), which Pillow reads only at 8 bits "
                        "per channel; convert it to 16-bit grayscale or 8-bit colour first")
    else:
        if mode in _ALPHA_MODES or (mode == "P" and "transparency" in im.info):
            alpha = np.asarray(im.convert("RGBA"))[..., 3]
            if alpha.min() < 255:
                warnings.warn(DataWarning("the images' alpha channel (transparency) is dropped: crsae reads the "
                                          "colour planes only"), stacklevel=4)
        if channels == 1 and mode not in _GRAY_MODES and not _gray_content(im):
            warnings.warn(DataWarning("colour images are converted to grayscale (ITU-R 601 luma) for a "
                                      "1-channel model"), stacklevel=4)
        depth = "uint8"
        pixels = np.asarray(im.convert("L" if channels == 1 else "RGB"), dtype=np.float32) / 255.0
        pixels = pixels[None] if channels == 1 else pixels.transpose(2, 0, 1)
        return Picture(np.ascontiguousarray(pixels), depth)
    if channels == 3:
        warnings.warn(DataWarning("grayscale images are repeated on the 3 channels of an RGB model"), stacklevel=4)
        pixels = np.repeat(pixels, 3, axis=0)
    return Picture(np.ascontiguousarray(pixels), depth)


def _gray_content(im) -> bool:
    """Whether a colour-mode image holds gray pixels only (then its luma is exactly its value)."""
    rgb = np.asarray(im.convert("RGB"))
    return bool(np.all(rgb[..., 0] == rgb[..., 1]) and np.all(rgb[..., 1] == rgb[..., 2]))


def load_image(path: str | os.PathLike, channels: int = 1) -> np.ndarray:
    """Read an image as float32 (channels, Hh, Ww): integer images on [0, 1] (divided by their depth's maximum),
    float ones as stored; grayscale (ITU-R 601 luma) for 1 channel, RGB for 3."""
    return read_image(path, channels).pixels


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files directly in ``folder``, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder; pass a folder of PNG/JPEG images")
    try:
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.is_dir())
    except OSError as err:
        raise DataError(f"{folder} cannot be listed ({_reason(err)})") from None
    if not files:
        raise DataError(f"{folder} holds no PNG/JPEG/BMP/TIFF images; pass a folder of images")
    return files


def load_images(folder: str | os.PathLike, channels: int = 1, limit: int | None = None) -> list[np.ndarray]:
    """All images of a folder (the first ``limit`` by name), each (channels, Hh, Ww) in [0, 1]. A warning that
    several images raise (e.g. colour converted to grayscale) is given once for the folder, not once an image."""
    if limit is not None and limit < 1:
        raise DataError(f"the image limit must be at least 1, got {limit}")
    paths = list_images(folder)[:limit]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        images = [load_image(p, channels) for p in paths]
    for w in {(w.category, str(w.message)): w for w in caught}.values():
        warnings.warn(w.message, stacklevel=2)
    return images


# --- long recordings ---------------------------------------------------------------------------------------
RAW_SUFFIXES = (".bin", ".raw", ".dat")
RAW_DTYPES = {"int16": np.int16, "float32": np.float32}


class Recording:
    """A long 1-D signal (channels, N) in a file, read through bounded windows: ``recording[:, a:b]`` reads
    samples a..b of every channel with ``os.pread`` and then tells the kernel to drop those pages
    (``posix_fadvise(DONTNEED)``), so neither the process's resident memory nor the page cache grows with the
    file (a memory map's pages would count in the resident set as they are touched).

    ``interleaved``: the file is sample-major (s0c0 s0c1 ... s1c0 ..., raw recordings, Fortran-order .npy);
    otherwise channel-major (each channel's N samples in a row, C-order .npy).
    """

    ndim = 2

    def __init__(self, path: str | os.PathLike, dtype, channels: int, length: int, *, offset: int = 0,
                 interleaved: bool = True, name: str | None = None):
        self.path, self.dtype = Path(path), np.dtype(dtype)
        self.shape = (int(channels), int(length))
        self.offset, self.interleaved = int(offset), interleaved
        self.name = name or str(self.path)
        self._fd = os.open(self.path, os.O_RDONLY)
        self._warned = False

    @property
    def size(self) -> int:
        return self.shape[0] * self.shape[1]

    def __len__(self) -> int:
        return self.shape[0]

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __getitem__(self, key) -> np.ndarray:
        rows, cols = key if isinstance(key, tuple) else (key, slice(None))
        if rows != slice(None) or not isinstance(cols, slice) or cols.step not in (None, 1):
            raise IndexError("a Recording is read as recording[:, start:stop]")
        start, stop, _ = cols.indices(self.shape[1])
        stop = max(start, stop)
        channels, item = self.shape[0], self.dtype.itemsize
        if self.interleaved:
            data = self._read(self.offset + start * channels * item, (stop - start) * channels * item)
            window = np.frombuffer(data, dtype=self.dtype).reshape(stop - start, channels).T
        else:
            window = np.empty((channels, stop - start), self.dtype)
            for c in range(channels):
                data = self._read(self.offset + (c * self.shape[1] + start) * item, (stop - start) * item)
                window[c] = np.frombuffer(data, dtype=self.dtype)
        if not self._warned and window.size:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                check_values(window, self.name)
            for w in caught:
                self._warned = True
                warnings.warn(w.message, stacklevel=2)
        return window

    def _read(self, offset: int, length: int) -> bytes:
        data, got = bytearray(), 0
        while got < length:
            block = os.pread(self._fd, length - got, offset + got)
            if not block:
                raise DataError(f"{self.name} ended at byte {offset + got} of {self.offset + self.size * self.dtype.itemsize}"
                                ": the file shrank while being read")
            data += block
            got += len(block)
        if hasattr(os, "posix_fadvise") and length:
            os.posix_fadvise(self._fd, offset, length, os.POSIX_FADV_DONTNEED)
        return bytes(data)

    def __array__(self, dtype=None, copy=None):
        whole = self[:, :]
        return whole if dtype is None else whole.astype(dtype)


@dataclass
class Item:
    name: str
    array: np.ndarray            # (B, channels, *size), or a (channels, N) Recording / array when ``long``
    long: bool = False           # one long 1-D recording (channels, N)
    image: bool = False
    depth: str | None = None     # images: "uint8", "uint16" or "float32" (the file's samples)


def batch_shape(shape: tuple[int, ...], kind: str, channels: int, name: str) -> tuple[int, ...]:
    """The (B, channels, *size) shape ``as_batch`` gives an array of ``shape``."""
    spatial, shape = (1 if kind == "1d" else 2), tuple(shape)
    if len(shape) == spatial:
        return (1, 1) + shape
    if len(shape) == spatial + 1:
        return (shape[0], 1) + shape[1:] if channels == 1 else (1,) + shape
    if len(shape) == spatial + 2:
        return shape
    raise ShapeError(f"{name} has shape {shape}, which is not a {kind} signal batch; "
                     f"pass (batch, channels, {'length' if kind == '1d' else 'height, width'})")


def as_batch(array: np.ndarray, kind: str, channels: int, name: str) -> np.ndarray:
    """Arrange an array as (B, channels, *size).

    1-D: (N,) one signal; (B, N) a batch when channels == 1, else (channels, N) one signal; (B, channels, N).
    2-D: (Hh, Ww) one image; (B, Hh, Ww) when channels == 1, else (channels, Hh, Ww); (B, channels, Hh, Ww).
    """
    return array.reshape(batch_shape(array.shape, kind, channels, name))


def read_input(path: str | os.PathLike, *, kind: str, channels: int, raw_dtype: str | None = None,
               raw_channels: int | None = None, long_from: int = 32768) -> list[Item]:
    """Items of an input path. 1-D signals longer than ``long_from`` samples become long (chunked) items."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"input {path} does not exist; pass a .npy/.npz file, an image or folder, or a recording")
    suffix = path.suffix.lower()
    if suffix in RAW_SUFFIXES and not path.is_dir():
        return [_raw_item(path, kind, raw_dtype, channels if raw_channels is None else raw_channels)]
    if path.is_dir() or suffix in IMAGE_SUFFIXES:
        if kind != "2d":
            what = "is a folder, read as images," if path.is_dir() else "is an image"
            raise DataError(f"{path} {what} but the model is 1-D; use a 2-D model or pass a .npy/.npz file or a "
                            "raw recording")
        files = list_images(path) if path.is_dir() else [path]
        items = []
        for p in files:
            picture = read_image(p, channels)
            items.append(Item(p.stem, picture.pixels[None], image=True, depth=picture.depth))
        return items
    if suffix == ".npy":
        return [_npy_item(path, kind, channels, long_from)]
    if suffix == ".npz":
        def one_long_signal(key: str, header: NpyHeader) -> bool:
            shape = batch_shape(header.shape, kind, channels, f"{path}:{key}")
            return kind == "1d" and shape[0] == 1 and shape[-1] > long_from
        return [Item(key, a, long=True) if isinstance(a, Recording)
                else _array_item(f"{path}:{key}", key, a, kind, channels, long_from)
                for key, a in load_npz(path, window=one_long_signal).items()]
    raise DataError(f"{path} has an unknown file type '{suffix}'; pass .npy, .npz, .png/.jpg, a folder of images, "
                    f"or a raw recording ({', '.join(RAW_SUFFIXES)}) with --raw-dtype")


def _npy_item(path: Path, kind: str, channels: int, long_from: int) -> Item:
    header = _open_npy(path)
    shape = batch_shape(header.shape, kind, channels, str(path))
    if kind == "1d" and shape[0] == 1 and shape[-1] > long_from:
        # one long signal (channels, N): read through windows, never loaded or mapped whole
        return Item(path.stem, Recording(path, header.dtype, shape[1], shape[2], offset=header.offset,
                                         interleaved=header.fortran and shape[1] > 1, name=str(path)), long=True)
    _check_memory(header.nbytes * 2, str(path), "pass fewer signals per file")
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise DataError(f"{path} is not a readable .npy file ({_reason(err)}); save it with numpy.save") from None
    return _array_item(str(path), path.stem, array, kind, channels, long_from)


def _array_item(label: str, name: str, array: np.ndarray, kind: str, channels: int, long_from: int) -> Item:
    check_dtype(array.dtype, label)
    check_shape(array.shape, label)
    check_values(array, label)
    batch = as_batch(array, kind, channels, label)
    if kind == "1d" and len(batch) == 1 and batch.shape[-1] > long_from:
        return Item(name, batch[0], long=True)
    return Item(name, batch)


def _raw_item(path: Path, kind: str, raw_dtype: str | None, channels: int) -> Item:
    """A raw interleaved recording (sample-major: s0c0 s0c1 ... s1c0 ...) as a windowed (channels, N) Recording."""
    if kind != "1d":
        raise DataError(f"{path} is a raw recording but the model is 2-D; use a 1-D model")
    if raw_dtype not in RAW_DTYPES:
        shown = "" if raw_dtype is None else f" (got {raw_dtype!r})"
        raise DataError(f"{path} is a raw recording: pass --raw-dtype int16 or float32{shown} (and --raw-channels)")
    if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
        raise DataError(f"--raw-channels must be a positive integer, got {channels!r}")
    _check_file(path, "raw recording")
    dtype = np.dtype(RAW_DTYPES[raw_dtype])
    size = path.stat().st_size
    if size == 0 or size % (dtype.itemsize * channels):
        raise DataError(f"{path} has {size} bytes, not a whole number of {channels}-channel {raw_dtype} samples; "
                        "check --raw-dtype and --raw-channels")
    return Item(path.stem, Recording(path, dtype, channels, size // (dtype.itemsize * channels), name=str(path)),
                long=True)
