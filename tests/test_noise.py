"""crsae/model/noise.py: Donoho's noise estimate, median(|d|) / 0.6745 of the finest diagonal Haar band."""

import numpy as np
import pytest
import torch

from conftest import require_shared_data
from crsae.model.noise import estimate_noise_sigma, finest_detail


def numpy_estimate(y: np.ndarray) -> np.ndarray:
    """The same estimate written directly in numpy, per item: (B, channels, *size) -> (B,)."""
    if y.ndim == 3:
        n = y.shape[2] // 2
        d = (y[:, :, 1:2 * n:2] - y[:, :, 0:2 * n:2]) / np.sqrt(2)
    else:
        h, w = y.shape[2] // 2, y.shape[3] // 2
        b = y[:, :, :2 * h, :2 * w].reshape(y.shape[0], y.shape[1], h, 2, w, 2)
        d = (b[:, :, :, 0, :, 0] - b[:, :, :, 0, :, 1] - b[:, :, :, 1, :, 0] + b[:, :, :, 1, :, 1]) / 2
    return np.median(np.abs(d.reshape(len(y), -1)), axis=1) / 0.6745


@pytest.mark.parametrize("shape", [(3, 1, 8, 9), (2, 3, 21, 12), (1, 1, 2, 2), (2, 1, 41), (1, 4, 8), (1, 1, 2)])
def test_equals_the_numpy_estimate_on_odd_and_even_sizes(shape, rng):
    y = rng.standard_normal(shape)
    got = estimate_noise_sigma(torch.from_numpy(y)).numpy()
    assert got.shape == (shape[0],)
    np.testing.assert_allclose(got, numpy_estimate(y), rtol=1e-12)


def test_the_diagonal_band_is_orthonormal_and_blind_to_ramps():
    r, c = np.mgrid[0:10, 0:12].astype(np.float64)
    ramp = torch.from_numpy((3 * r - 2 * c + 5)[None, None])
    assert float(finest_detail(ramp).abs().max()) < 1e-12            # planes do not reach the diagonal band
    y = torch.zeros(1, 1, 2, 2, dtype=torch.float64)
    y[0, 0, 0, 0] = 1.0
    assert finest_detail(y).tolist() == [[0.5]]                      # (1 - 0 - 0 + 0) / 2: unit-norm Haar atom


@pytest.mark.parametrize("sigma", [15, 25, 50])
def test_flat_images_within_two_percent(sigma):
    rng = np.random.default_rng(sigma)
    flat = 0.5 + sigma / 255 * rng.standard_normal((4, 1, 321, 481))
    got = estimate_noise_sigma(torch.from_numpy(flat)).numpy() * 255
    assert np.all(np.abs(got / sigma - 1) < 0.02), got


@pytest.mark.data
@pytest.mark.parametrize("sigma,mean_ratio,worst", [(15, 1.12, 1.5), (25, 1.06, 1.25), (50, 1.03, 1.1)])
def test_bsd68_estimates_are_biased_upwards_less_at_higher_noise(sigma, mean_ratio, worst):
    """The 68 BSD68 images with seeded noise (unclipped): texture reaches the finest band, so the estimate is above
    sigma on average, relatively less the more noise there is (measured 2026-12-01: mean estimate / sigma 1.106,
    1.046, 1.015 and worst 1.427, 1.207, 1.072 at sigma 15, 25, 50; never below 0.995)."""
    from crsae.readers import load_images
    clean = [np.round(im * 255) for im in load_images(require_shared_data() / "BSD68", 1)]   # 8-bit pixels
    rng = np.random.default_rng(sigma)
    ratios = np.array([float(estimate_noise_sigma(torch.from_numpy(
        (im + sigma * rng.standard_normal(im.shape))[None])).item()) / sigma for im in clean])
    assert len(ratios) == 68
    assert 1.0 < ratios.mean() < mean_ratio and ratios.min() > 0.98 and ratios.max() < worst, \
        (ratios.mean(), ratios.min(), ratios.max())
