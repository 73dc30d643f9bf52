"""crsae/readers.py: every file crsae reads (.npy, .npz, images and image folders, raw recordings) as float32
batches (B, channels, *size) or long (channels, N) recordings."""

import numpy as np
import pytest
from PIL import Image

from crsae.errors import DataError, DataWarning, ShapeError
from crsae.readers import as_batch, list_images, load_array, load_image, load_images, read_input


def test_load_array_gives_float32_values(tmp_path):
    np.save(tmp_path / "a.npy", np.array([[1, -2], [3, 32767]], np.int16))
    array = load_array(tmp_path / "a.npy")
    assert array.dtype == np.float32 and array.tolist() == [[1.0, -2.0], [3.0, 32767.0]]


def test_load_array_refuses_missing_and_non_finite_files(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_array(tmp_path / "missing.npy")
    np.save(tmp_path / "nan.npy", np.array([1.0, np.nan]))
    with pytest.raises(ShapeError, match="NaN or Inf"):
        load_array(tmp_path / "nan.npy")
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataError):                          # never unpickled
        load_array(tmp_path / "objects.npy")


@pytest.mark.parametrize("kind,channels,shape,batch", [
    ("1d", 1, (50,), (1, 1, 50)), ("1d", 1, (4, 50), (4, 1, 50)), ("1d", 3, (3, 50), (1, 3, 50)),
    ("1d", 2, (5, 2, 50), (5, 2, 50)), ("2d", 1, (9, 8), (1, 1, 9, 8)), ("2d", 1, (4, 9, 8), (4, 1, 9, 8)),
    ("2d", 3, (3, 9, 8), (1, 3, 9, 8)), ("2d", 3, (2, 3, 9, 8), (2, 3, 9, 8)),
])
def test_as_batch_arranges_signals_and_images(kind, channels, shape, batch):
    array = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    got = as_batch(array, kind, channels, "x")
    assert got.shape == batch and np.array_equal(got.ravel(), array.ravel())


def test_as_batch_refuses_too_many_axes():
    with pytest.raises(ShapeError, match=r"x has shape \(1, 1, 1, 50\), which is not a 1d signal batch"):
        as_batch(np.zeros((1, 1, 1, 50)), "1d", 1, "x")


def test_read_input_npy_and_npz_items(tmp_path, rng):
    batch = rng.standard_normal((3, 1, 40)).astype(np.float32)
    np.save(tmp_path / "b.npy", batch)
    (item,) = read_input(tmp_path / "b.npy", kind="1d", channels=1)
    assert item.name == "b" and not item.long and not item.image
    np.testing.assert_array_equal(np.asarray(item.array), batch)
    np.savez(tmp_path / "p.npz", first=batch[0, 0], second=batch[:2, 0])
    items = read_input(tmp_path / "p.npz", kind="1d", channels=1)
    assert [(i.name, np.asarray(i.array).shape) for i in items] == [("first", (1, 1, 40)), ("second", (2, 1, 40))]
    np.testing.assert_array_equal(np.asarray(items[1].array), batch[:2])


def test_one_signal_longer_than_long_from_becomes_a_long_item(tmp_path, rng):
    signal = rng.standard_normal((2, 300)).astype(np.float32)
    np.save(tmp_path / "long.npy", signal[None])
    (item,) = read_input(tmp_path / "long.npy", kind="1d", channels=2, long_from=299)
    assert item.long and item.array.shape == (2, 300)
    np.testing.assert_array_equal(np.asarray(item.array), signal)
    (short,) = read_input(tmp_path / "long.npy", kind="1d", channels=2, long_from=300)
    assert not short.long and np.asarray(short.array).shape == (1, 2, 300)


def test_raw_recording_is_sample_major(tmp_path):
    samples = np.arange(12, dtype=np.int16).reshape(6, 2)             # s0c0 s0c1 s1c0 s1c1 ...
    samples.tofile(tmp_path / "rec.bin")
    (item,) = read_input(tmp_path / "rec.bin", kind="1d", channels=1, raw_dtype="int16", raw_channels=2)
    assert item.name == "rec" and item.long and item.array.shape == (2, 6)
    assert np.asarray(item.array).tolist() == [[0, 2, 4, 6, 8, 10], [1, 3, 5, 7, 9, 11]]
    with pytest.raises(DataError, match="not a whole number of 5-channel int16 samples"):
        read_input(tmp_path / "rec.bin", kind="1d", channels=1, raw_dtype="int16", raw_channels=5)
    with pytest.raises(DataError, match="--raw-dtype"):
        read_input(tmp_path / "rec.bin", kind="1d", channels=1)


def test_read_input_refusals(tmp_path):
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(DataError, match="unknown file type '.txt'"):
        read_input(tmp_path / "x.txt", kind="1d", channels=1)
    with pytest.raises(DataError, match="does not exist"):
        read_input(tmp_path / "missing.npy", kind="1d", channels=1)
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "im.png")
    with pytest.raises(DataError, match="but the model is 1-D"):
        read_input(tmp_path / "im.png", kind="1d", channels=1)


def test_images_are_read_in_the_unit_interval(tmp_path):
    pixels = np.array([[0, 51, 255], [102, 153, 204]], np.uint8)
    Image.fromarray(pixels).save(tmp_path / "g.png")
    gray = load_image(tmp_path / "g.png")
    assert gray.dtype == np.float32 and gray.shape == (1, 2, 3)
    np.testing.assert_allclose(gray[0], pixels / 255.0, atol=1e-7)
    rgb = np.stack([pixels, 255 - pixels, np.zeros_like(pixels)], axis=-1)
    Image.fromarray(rgb).save(tmp_path / "c.png")
    colour = load_image(tmp_path / "c.png", channels=3)
    assert colour.shape == (3, 2, 3)
    np.testing.assert_allclose(colour[1], (255 - pixels) / 255.0, atol=1e-7)
    with pytest.raises(ShapeError, match=r"1 \(grayscale\) or 3 \(RGB\) channels, not 2"):
        load_image(tmp_path / "g.png", channels=2)


def test_image_folders_are_listed_by_name(tmp_path):
    for name in ("b.png", "a.png", "c.jpg"):
        Image.fromarray(np.full((5, 6), 10, np.uint8)).save(tmp_path / name)
    (tmp_path / "notes.txt").write_text("not an image")
    assert [p.name for p in list_images(tmp_path)] == ["a.png", "b.png", "c.jpg"]
    assert [im.shape for im in load_images(tmp_path, limit=2)] == [(1, 5, 6), (1, 5, 6)]
    items = read_input(tmp_path, kind="2d", channels=1)
    assert [(i.name, i.image, np.asarray(i.array).shape) for i in items] == \
        [("a", True, (1, 1, 5, 6)), ("b", True, (1, 1, 5, 6)), ("c", True, (1, 1, 5, 6))]
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no"):
        list_images(tmp_path / "empty")


def test_a_folder_of_colour_images_warns_once_not_once_an_image(tmp_path):
    for name in ("a.png", "b.png", "c.png"):
        Image.fromarray(np.dstack([np.full((5, 6), v, np.uint8) for v in (10, 90, 200)])).save(tmp_path / name)
    with pytest.warns(DataWarning) as caught:
        images = load_images(tmp_path, channels=1)
    assert len(images) == 3 and [str(w.message) for w in caught].count(str(caught[0].message)) == 1
    assert len(caught) == 1 and "converted to grayscale" in str(caught[0].message)
