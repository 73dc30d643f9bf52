"""crsae/metrics.py: the denoising PSNR and dictionary recovery (the error of docs/math.md, the perturbed start)."""

import numpy as np
import pytest

from crsae.metrics import align_filter, filter_errors, perturb_dictionary, psnr


def _unit(h):
    return h / np.linalg.norm(h.reshape(len(h), -1), axis=1).reshape(-1, *([1] * (h.ndim - 1)))


def test_recovery_error_ignores_order_sign_and_shift(rng):
    true = _unit(rng.standard_normal((3, 1, 12)))
    learned = -true[[2, 0, 1]]                                     # permuted and sign-flipped
    np.testing.assert_allclose(filter_errors(true, learned), 0.0, atol=1e-6)
    shifted = np.zeros_like(true)
    shifted[:, :, 1:] = true[:, :, :-1]                            # one tap later, the last tap lost
    err = filter_errors(true, shifted)
    np.testing.assert_allclose(err, np.sqrt(1 - np.sum(true[:, 0, :-1] ** 2, axis=1)), atol=1e-6)
    assert (filter_errors(true, shifted, shift=False) > err).all()


def test_recovery_error_of_orthogonal_filters_is_one():
    true = np.eye(3)[:, None, :]                                   # (3, 1, 3) unit impulses at 0, 1, 2
    learned = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])[:, None, :]
    np.testing.assert_allclose(filter_errors(true, learned), 0.0, atol=1e-12)
    a, b = np.array([[[1.0, 0.0, 0.0]]]), np.array([[[0.0, 1.0, 0.0]]])
    assert filter_errors(a, b, shift=False).tolist() == [1.0]
    assert filter_errors(a, b).tolist() == [0.0]                   # a shift of one tap aligns them
    with pytest.raises(ValueError, match="filter shapes differ"):
        filter_errors(np.ones((2, 1, 3)), np.ones((2, 1, 4)))


def test_recovery_error_of_2d_filters(rng):
    true = _unit(rng.standard_normal((2, 1, 4, 4)))
    noise = rng.standard_normal(true.shape)
    err = filter_errors(true, true + 0.02 * noise)
    assert err.shape == (2,) and ((0 < err) & (err < 0.2)).all()


def test_perturbed_dictionary_starts_at_the_asked_error(rng):
    true = _unit(rng.standard_normal((5, 1, 20)))
    start = perturb_dictionary(true, low=0.4, high=0.5, seed=3)
    assert start.dtype == np.float32 and start.shape == true.shape
    np.testing.assert_allclose(np.linalg.norm(start.reshape(5, -1), axis=1), 1.0, rtol=1e-5)
    err = filter_errors(true, start)
    assert ((0.4 - 1e-4 <= err) & (err <= 0.5 + 1e-4)).all(), err
    np.testing.assert_array_equal(start, perturb_dictionary(true, low=0.4, high=0.5, seed=3))


def test_align_filter_undoes_shift_and_sign():
    reference = np.array([0.0, 1.0, 2.0, 1.0, 0.0, 0.0])
    moved = -np.array([1.0, 2.0, 1.0, 0.0, 0.0, 0.0]) * 3          # one tap earlier, flipped, scaled
    np.testing.assert_allclose(align_filter(reference, moved), reference / np.linalg.norm(reference))


def test_psnr_values():
    clean = np.zeros((4, 4))
    assert psnr(clean, clean) == float("inf")
    assert psnr(clean, np.full((4, 4), 0.1)) == pytest.approx(20.0)            # MSE 0.01, peak 1
    assert psnr(clean, np.full((4, 4), 25.5), peak=255.0) == pytest.approx(20.0)
    assert psnr(clean, np.full((4, 4), 0.01, np.float32)) == pytest.approx(40.0, abs=1e-5)
