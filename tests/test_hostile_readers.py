"""crsae/readers.py and crsae/files.py under generated and hostile inputs (hypothesis): every reader either
returns exactly the data (real dtype, depth and range) or raises DataError / ShapeError, never anything else;
windows of long recordings equal the whole; images keep their depth; temporaries are found and cleaned."""

from __future__ import annotations

import io
import os
import warnings
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from hostile import npy_bytes, png_bytes

from crsae import files
from crsae.errors import DataError, DataWarning, ShapeError
from crsae.readers import (Recording, load_array, load_image, load_npz, read_image, read_input)

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
REAL_DTYPES = st.sampled_from(["int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64",
                               "float16", "float32", "float64", ">i2", ">f4", "<f8"])


def _finite(dtype):
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        top = float(np.finfo(np.float32).max) / 2 if dtype.itemsize > 4 else None
        return hnp.from_dtype(dtype, allow_nan=False, allow_infinity=False, max_value=top,
                              min_value=None if top is None else -top)
    return hnp.from_dtype(dtype)


@st.composite
def arrays(draw, max_dims=3):
    dtype = draw(REAL_DTYPES)
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=max_dims, min_side=1, max_side=6))
    return draw(hnp.arrays(dtype, shape, elements=_finite(dtype)))


# --- .npy ------------------------------------------------------------------------------------------------
@SETTINGS
@given(array=arrays())
def test_npy_of_any_real_dtype_loads_as_its_float32_values(tmp_path, array):
    np.save(tmp_path / "a.npy", array)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        loaded = load_array(tmp_path / "a.npy")
    assert loaded.dtype == np.float32 and loaded.shape == array.shape
    assert np.array_equal(loaded, array.astype(np.float32))


@SETTINGS
@given(data=st.binary(max_size=400))
def test_npy_of_random_bytes_is_refused_cleanly(tmp_path, data):
    (tmp_path / "r.npy").write_bytes(data)
    for read in (lambda: load_array(tmp_path / "r.npy"),
                 lambda: read_input(tmp_path / "r.npy", kind="1d", channels=1)):
        try:
            read()
        except (DataError, ShapeError):
            pass


@SETTINGS
@given(array=arrays(), cut=st.integers(min_value=1, max_value=10_000))
def test_truncated_npy_is_refused_as_truncated(tmp_path, array, cut):
    data = npy_bytes(array)
    assume(cut < len(data))
    (tmp_path / "t.npy").write_bytes(data[:len(data) - cut])
    with pytest.raises((DataError, ShapeError)):
        load_array(tmp_path / "t.npy")
    with pytest.raises((DataError, ShapeError)):
        read_input(tmp_path / "t.npy", kind="1d", channels=1, long_from=4)


@pytest.mark.parametrize("array,match", [
    (np.ones(4, np.complex64), "complex"), (np.ones(4, bool), "booleans"), (np.array(["a"]), "not numbers"),
    (np.zeros(3, "m8[s]"), "not numbers"), (np.array([None], object), "objects"),
    (np.zeros(3, [("a", "f4")]), "structured"), (np.float64(1.0), "0-d"), (np.zeros((2, 0)), "empty axis"),
    (np.array([1.0, np.nan]), "NaN"), (np.array([np.inf]), "NaN or Inf"), (np.array([1e39]), "float32's range"),
])
def test_npy_dtypes_and_shapes_that_are_not_signals(tmp_path, array, match):
    np.save(tmp_path / "a.npy", array, allow_pickle=True)
    with pytest.raises((DataError, ShapeError), match=match):
        load_array(tmp_path / "a.npy")


def test_large_integers_are_announced_not_silently_rounded(tmp_path):
    np.save(tmp_path / "a.npy", np.array([1, 2 ** 40 + 1], np.int64))
    with pytest.warns(DataWarning, match="2\\^24"):
        load_array(tmp_path / "a.npy")


# --- .npz ------------------------------------------------------------------------------------------------
@SETTINGS
@given(members=st.dictionaries(st.from_regex(r"[a-z]{1,6}", fullmatch=True), arrays(), min_size=1, max_size=3),
       compressed=st.booleans())
def test_npz_round_trip(tmp_path, members, compressed):
    (np.savez_compressed if compressed else np.savez)(tmp_path / "a.npz", **members)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        loaded = load_npz(tmp_path / "a.npz")
    assert list(loaded) == list(members)
    assert all(np.array_equal(loaded[k], members[k]) and loaded[k].dtype == members[k].dtype for k in members)


@SETTINGS
@given(array=arrays(), position=st.integers(min_value=0), value=st.integers(min_value=0, max_value=255),
       compressed=st.booleans())
def test_npz_with_a_corrupted_byte_reads_or_is_refused_cleanly(tmp_path, array, position, value, compressed):
    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, a=array)
    data = bytearray(buffer.getvalue())
    data[position % len(data)] = value
    (tmp_path / "c.npz").write_bytes(bytes(data))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataWarning)
            load_npz(tmp_path / "c.npz")
    except (DataError, ShapeError):
        pass


def test_npz_member_that_is_not_an_array(tmp_path):
    with zipfile.ZipFile(tmp_path / "x.npz", "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(DataError, match="not an array"):
        load_npz(tmp_path / "x.npz")


# --- long recordings: windows equal the whole ------------------------------------------------------------
@SETTINGS
@given(channels=st.integers(1, 4), length=st.integers(1, 300), dtype=st.sampled_from(["int16", "float32"]),
       cuts=st.lists(st.integers(0, 300), min_size=2, max_size=6))
def test_raw_recording_windows_equal_the_interleaved_data(tmp_path, channels, length, dtype, cuts):
    data = (np.arange(channels * length) % 2000 - 1000).astype(dtype).reshape(length, channels)
    data.tofile(tmp_path / "r.bin")
    (item,) = read_input(tmp_path / "r.bin", kind="1d", channels=channels, raw_dtype=dtype)
    assert item.long and item.array.shape == (channels, length)
    cuts = sorted(min(c, length) for c in cuts)
    for a, b in zip(cuts, cuts[1:]):
        assert np.array_equal(item.array[:, a:b], data.T[:, a:b])


@SETTINGS
@given(shape=st.sampled_from([(300,), (1, 300), (2, 300), (1, 3, 300)]), fortran=st.booleans(),
       a=st.integers(0, 300), b=st.integers(0, 300))
def test_long_npy_windows_equal_the_array(tmp_path, shape, fortran, a, b):
    channels = 1 if len(shape) < 2 or shape == (1, 300) else shape[-2]
    array = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
    np.save(tmp_path / "l.npy", np.asfortranarray(array) if fortran else array)
    (item,) = read_input(tmp_path / "l.npy", kind="1d", channels=channels, long_from=100)
    assert item.long and isinstance(item.array, Recording)
    whole = array.reshape(channels, 300)
    a, b = min(a, b), max(a, b)
    assert np.array_equal(item.array[:, a:b], whole[:, a:b])


@SETTINGS
@given(rows=st.integers(1, 4), cols=st.integers(1, 200), cuts=st.lists(st.integers(0, 200), max_size=6))
def test_npy_writer_windows_make_the_array(tmp_path, rows, cols, cuts):
    array = np.random.default_rng(0).standard_normal((rows, cols)).astype(np.float32)
    edges = sorted({0, cols, *(min(c, cols) for c in cuts)})
    with files.NpyWriter(tmp_path / "w.npy", np.float32, (rows, cols)) as out:
        for a, b in zip(edges, edges[1:]):
            out[:, a:b] = array[:, a:b]
    assert np.array_equal(np.load(tmp_path / "w.npy"), array)


def test_raw_recording_options_are_checked(tmp_path):
    (tmp_path / "r.bin").write_bytes(b"\0" * 40)
    for channels in (0, -2, True, 2.5):
        with pytest.raises(DataError, match="--raw-channels"):
            read_input(tmp_path / "r.bin", kind="1d", channels=1, raw_dtype="int16", raw_channels=channels)
    with pytest.raises(DataError, match="--raw-dtype"):
        read_input(tmp_path / "r.bin", kind="1d", channels=1, raw_dtype="int8")


# --- images at their real depth ----------------------------------------------------------------------------
@SETTINGS
@given(pixels=hnp.arrays(np.uint16, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=20)))
def test_16bit_png_keeps_every_level(tmp_path, pixels):
    Image.fromarray(pixels).save(tmp_path / "g.png")
    picture = read_image(tmp_path / "g.png")
    assert picture.depth == "uint16"
    assert np.array_equal(np.rint(picture.pixels[0].astype(np.float64) * 65535).astype(np.uint16), pixels)


@SETTINGS
@given(pixels=hnp.arrays(np.uint8, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=20)))
def test_8bit_png_is_divided_by_255(tmp_path, pixels):
    Image.fromarray(pixels).save(tmp_path / "g.png")
    picture = read_image(tmp_path / "g.png")
    assert picture.depth == "uint8" and np.array_equal(picture.pixels[0], pixels.astype(np.float32) / 255)


@SETTINGS
@given(pixels=hnp.arrays(np.float32, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=20),
                         elements=st.floats(-2, 2, width=32)))
def test_float_tiff_is_read_as_stored(tmp_path, pixels):
    Image.fromarray(pixels).save(tmp_path / "f.tiff")
    picture = read_image(tmp_path / "f.tiff")
    assert picture.depth == "float32" and np.array_equal(picture.pixels[0], pixels)


@SETTINGS
@given(data=st.binary(max_size=300), suffix=st.sampled_from([".png", ".jpg", ".tiff", ".bmp"]))
def test_random_bytes_as_an_image_are_refused_cleanly(tmp_path, data, suffix):
    (tmp_path / f"r{suffix}").write_bytes(data)
    try:
        load_image(tmp_path / f"r{suffix}")
    except (DataError, ShapeError):
        pass


@SETTINGS
@given(cut=st.integers(16, 1600))   # past the CRC and the zlib checksum: pixel data lost
def test_truncated_png_is_refused(tmp_path, cut):
    data = png_bytes(np.random.default_rng(1).integers(0, 255, (40, 40)), bit_depth=8, color_type=0)
    assume(cut < len(data) - 12)                    # the IEND chunk alone may go
    (tmp_path / "t.png").write_bytes(data[:len(data) - cut - 12])
    with pytest.raises(DataError):
        load_image(tmp_path / "t.png")


def test_16bit_colour_png_is_refused_not_narrowed(tmp_path):
    (tmp_path / "c.png").write_bytes(png_bytes(np.full((4, 4, 3), 40000), bit_depth=16, color_type=2))
    with pytest.raises(DataError, match="16-bit colour"):
        load_image(tmp_path / "c.png", 3)


def test_colour_into_grayscale_and_alpha_are_announced(tmp_path):
    rgba = np.zeros((6, 6, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 128
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    with pytest.warns(DataWarning) as caught:
        load_image(tmp_path / "a.png", 1)
    messages = " ".join(str(w.message) for w in caught)
    assert "alpha" in messages and "grayscale" in messages
    gray_rgb = np.repeat(np.arange(36, dtype=np.uint8).reshape(6, 6, 1), 3, axis=2)
    Image.fromarray(gray_rgb).save(tmp_path / "g.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)              # gray pixels in an RGB file: nothing to say
        assert np.array_equal(load_image(tmp_path / "g.png", 1)[0], gray_rgb[..., 0] / np.float32(255))


def test_decompression_bomb_header_is_refused(tmp_path):
    (tmp_path / "b.png").write_bytes(png_bytes(np.zeros((1, 1)), bit_depth=8, color_type=0, width=30000,
                                               height=30000))
    with pytest.raises(DataError, match="pixels"):
        load_image(tmp_path / "b.png")


# --- temporaries ---------------------------------------------------------------------------------------------
def _dead_pid() -> int:
    import subprocess
    import sys
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_temporaries_of_dead_processes_are_removed_and_live_ones_kept(tmp_path):
    host = files._HOST
    dead = tmp_path / f".out.npy.crsae-{_dead_pid()}-{host}-x1y2.tmp"
    dead.write_bytes(b"x" * 100)
    dead_folder = tmp_path / f".imgs.crsae-{_dead_pid()}-{host}-q.tmp"
    dead_folder.mkdir()
    (dead_folder / "a.png").write_bytes(b"p")
    live = tmp_path / f".out.npy.crsae-{os.getpid()}-{host}-abc.tmp"
    live.write_bytes(b"mine")
    other_host = tmp_path / f".out.npy.crsae-{_dead_pid()}-00000000-abc.tmp"
    other_host.write_bytes(b"theirs")
    foreign = tmp_path / ".out.npy.somethingelse.tmp"
    foreign.write_bytes(b"not ours")
    with files.atomic_path(tmp_path / "new.npy") as tmp:
        tmp.write_bytes(b"new")
    assert not dead.exists() and not dead_folder.exists()
    assert live.exists() and other_host.exists() and foreign.exists() and (tmp_path / "new.npy").exists()


def test_atomic_paths_write_all_or_none(tmp_path):
    (tmp_path / "a").write_bytes(b"old a")
    with pytest.raises(RuntimeError):
        with files.atomic_paths(tmp_path / "a", tmp_path / "b") as (ta, tb):
            ta.write_bytes(b"new a")
            tb.write_bytes(b"new b")
            raise RuntimeError("fails before the rename")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"] and (tmp_path / "a").read_bytes() == b"old a"


@pytest.mark.parametrize("make,match", [
    (lambda t: t / "missing" / "o.npy", "does not exist"),
    (lambda t: (t / "f").write_bytes(b"") or t / "f" / "o.npy", "is a file"),
    (lambda t: (t / "d.npy").mkdir() or t / "d.npy", "is a folder"),
    (lambda t: "/proc/o.npy", "not writable"),
])
def test_check_output_refuses_before_the_work(tmp_path, make, match):
    with pytest.raises(DataError, match=match):
        files.check_output(make(tmp_path))


def test_check_output_refuses_what_does_not_fit(tmp_path):
    with pytest.raises(DataError, match="free"):
        files.check_output(tmp_path / "o.npy", size=1 << 62)
