"""crsae/training/datasets.py: training batches drawn from a generator seeded with (seed, epoch), so any epoch can
be redrawn exactly; sources described as plain dicts."""

import numpy as np
import pytest
import torch

from crsae.errors import ConfigError, DataError, ShapeError
from crsae.simulate import SimulationConfig, save_simulation, simulate
from crsae.training.datasets import ArrayData, ImageCropData, build_source, spec_for_path


def _batches(data, epoch, seed, batch_size=4):
    batches = list(data.batches(epoch, batch_size, seed))
    assert all(sigma is None for _, _, sigma in batches)            # fixed noise: no per-batch level
    return [(x.clone(), t.clone()) for x, t, _ in batches]


def test_array_batches_cover_every_example_once_and_repeat_with_seed_and_epoch(rng):
    clean = rng.standard_normal((10, 1, 12)).astype(np.float32)
    data = ArrayData(clean)
    first = _batches(data, 0, 3)
    assert [len(x) for x, _ in first] == [4, 4, 2] and len(data) == 10
    seen = torch.cat([t for _, t in first])
    assert sorted(map(tuple, seen[:, 0].tolist())) == sorted(map(tuple, clean[:, 0].tolist()))
    assert all(torch.equal(x, t) for x, t in first)             # no noise: input = target
    again = _batches(data, 0, 3)
    assert all(torch.equal(a[1], b[1]) for a, b in zip(first, again))
    other = _batches(data, 1, 3)
    assert not all(torch.equal(a[1], b[1]) for a, b in zip(first, other))


def test_array_data_with_noise(rng):
    clean = np.zeros((64, 1, 50), np.float32)
    noisy = ArrayData(clean, noise_sigma=0.5)
    (x, t), = _batches(noisy, 2, 0, batch_size=64)
    assert torch.equal(t, torch.zeros_like(t)) and float(x.std()) == pytest.approx(0.5, rel=0.05)
    (x2, _), = _batches(noisy, 2, 0, batch_size=64)
    assert torch.equal(x, x2)                                   # fresh noise per epoch, the same on a redraw
    given = ArrayData(clean, clean + 1)
    (x, t), = _batches(given, 0, 0, batch_size=64)
    assert torch.equal(x, t + 1)
    with pytest.raises(ShapeError, match=r"noisy \(2, 1, 50\) and clean \(64, 1, 50\) differ in shape"):
        ArrayData(clean, clean[:2])


def test_noise_drawn_per_batch_from_a_range_is_seeded_and_has_that_std(rng):
    """Blind training (``noise_sigma_max``): each batch's sigma is uniform in [lo, hi], its noise has that std,
    and the epoch redraws exactly; arrays and image crops alike."""
    clean = np.zeros((40, 1, 2000), np.float32)
    data = ArrayData(clean, noise_sigma=0.1, noise_sigma_max=0.5)
    batches = list(data.batches(3, 1, 7))
    sigmas = [sigma for _, _, sigma in batches]
    assert all(0.1 <= s <= 0.5 for s in sigmas) and max(sigmas) - min(sigmas) > 0.2
    for x, t, sigma in batches:
        assert torch.equal(t, torch.zeros_like(t)) and float(x.std()) == pytest.approx(sigma, rel=0.08)
    again = list(data.batches(3, 1, 7))
    assert [s for _, _, s in again] == sigmas and all(torch.equal(a[0], b[0]) for a, b in zip(batches, again))
    assert [s for _, _, s in data.batches(4, 1, 7)] != sigmas
    images = [np.full((1, 64, 64), 0.5, np.float32)]
    crops = ImageCropData(images, crop_size=48, crops_per_epoch=6, noise_sigma=0.05, noise_sigma_max=0.2)
    drawn = list(crops.batches(0, 2, 1))
    assert len(drawn) == 3
    for x, t, sigma in drawn:
        assert 0.05 <= sigma <= 0.2 and float((x - t).std()) == pytest.approx(sigma, rel=0.05)


def test_image_crops_are_repeatable_and_inside_the_images():
    images = [np.arange(20 * 24, dtype=np.float32).reshape(1, 20, 24) / 480, np.ones((1, 16, 16), np.float32)]
    data = ImageCropData(images, crop_size=8, crops_per_epoch=6, noise_sigma=0.0)
    crops = data.crops(0, seed=1)
    assert crops.shape == (6, 1, 8, 8) and len(data) == 6
    assert torch.equal(crops, data.crops(0, seed=1)) and not torch.equal(crops, data.crops(1, seed=1))
    for crop in crops[:, 0].numpy():
        if (crop == 1).all():
            continue
        top, left = divmod(int(round(crop[0, 0] * 480)), 24)      # where it came from in the ramp image
        np.testing.assert_allclose(crop, images[0][0, top:top + 8, left:left + 8])
    with pytest.raises(ShapeError, match="1 images are smaller than crop_size 18"):
        ImageCropData(images, crop_size=18, crops_per_epoch=2, noise_sigma=0.1)


def test_sources_from_specs(tmp_path):
    spec = {"source": "simulate", **SimulationConfig(num_signals=5, length=60, kernel_size=10).__dict__}
    source = build_source(spec)
    sim = simulate(SimulationConfig(num_signals=5, length=60, kernel_size=10))
    assert (source.kind, source.channels, len(source.data)) == ("1d", 1, 5)
    np.testing.assert_array_equal(source.truth, sim.dictionary)
    assert source.sigma == sim.sigma
    save_simulation(sim, tmp_path / "s.npz")
    from_file = build_source(spec_for_path(str(tmp_path / "s.npz"), channels=1, crop_size=8, crops_per_epoch=2,
                                           noise_sigma=0.0, max_images=None))
    np.testing.assert_array_equal(from_file.truth, sim.dictionary)
    assert torch.equal(from_file.data.noisy, torch.from_numpy(sim.signals))
    np.save(tmp_path / "a.npy", np.zeros((3, 2, 9, 9), np.float32))
    array = build_source(spec_for_path(str(tmp_path / "a.npy"), channels=1, crop_size=8, crops_per_epoch=2,
                                       noise_sigma=0.1, max_images=None))
    assert (array.kind, array.channels, array.sigma, array.truth) == ("2d", 2, 0.1, None)
    blind = spec_for_path(str(tmp_path / "a.npy"), channels=1, crop_size=8, crops_per_epoch=2, noise_sigma=0.1,
                          max_images=None, noise_sigma_max=0.3)
    assert blind["noise_sigma_max"] == 0.3 and build_source(blind).sigma == pytest.approx(0.2)   # the middle
    with pytest.raises(ConfigError, match="drop --noise-sigma-max"):
        spec_for_path(str(tmp_path / "s.npz"), channels=1, crop_size=8, crops_per_epoch=2, noise_sigma=0.0,
                      max_images=None, noise_sigma_max=0.3)
    (tmp_path / "x.csv").write_text("1,2")
    with pytest.raises(DataError, match="unknown type"):
        spec_for_path(str(tmp_path / "x.csv"), channels=1, crop_size=8, crops_per_epoch=2, noise_sigma=0.0,
                      max_images=None)
    with pytest.raises(DataError, match="does not exist"):
        spec_for_path(str(tmp_path / "missing"), channels=1, crop_size=8, crops_per_epoch=2, noise_sigma=0.0,
                      max_images=None)
