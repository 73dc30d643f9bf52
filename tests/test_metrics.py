"""crsae/metrics.py: the denoising PSNR and dictionary recovery (the error of docs/math.md, the perturbed start)."""

import numpy as np
import pytest

from crsae.metrics import align_filter, denoise_score, filter_errors, perturb_dictionary, psnr


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


def test_denoise_score_is_seeded_and_measures_the_noise():
    images = [np.full((1, 40, 44), 0.5, np.float32), np.full((1, 36, 36), 0.25, np.float32)]
    score = denoise_score(lambda noisy: noisy, images, 0.1, crop=32)
    assert score.count == 2
    assert score.noisy_psnr == pytest.approx(20.0, abs=0.3)                  # sigma 0.1 on peak 1: 20 dB
    assert score.denoised_psnr == score.noisy_psnr                          # the identity denoises nothing
    assert denoise_score(lambda noisy: noisy, images, 0.1, crop=32) == score
    assert denoise_score(lambda noisy: noisy, images, 0.1, crop=32, seed=1).noisy_psnr != score.noisy_psnr
    flat = denoise_score(lambda noisy: np.full_like(noisy, noisy.mean()), images, 0.1, crop=32)
    assert flat.denoised_psnr > 45                                           # the mean of a flat image is exact


def test_denoise_score_hands_the_denoiser_float32_batches_of_the_crop():
    seen = []
    image = np.linspace(0, 1, 30 * 34, dtype=np.float32).reshape(1, 30, 34)
    score = denoise_score(lambda noisy: seen.append(noisy) or noisy * 0 + image[None, :, 1:29, 3:31], [image], 0.0,
                          crop=28)
    assert seen[0].shape == (1, 1, 28, 28) and seen[0].dtype == np.float32
    assert score.noisy_psnr == float("inf") and score.denoised_psnr == float("inf")


@pytest.mark.parametrize("kwargs, images, message", [
    ({}, [], "no images"),
    ({"crop": 50}, [np.zeros((1, 30, 30), np.float32)], "--crop 50"),
    ({"min_size": 40}, [np.zeros((1, 30, 30), np.float32)], "smaller than the model's minimum 40"),
    ({"channels": 3}, [np.zeros((1, 30, 30), np.float32)], "1 channels but the model has 3"),
])
def test_denoise_score_refuses_what_it_cannot_score(kwargs, images, message):
    from crsae.errors import CrsaeError
    with pytest.raises(CrsaeError, match=message):
        denoise_score(lambda noisy: noisy, images, 0.1, **kwargs)
    with pytest.raises(CrsaeError, match="--noise-sigma"):
        denoise_score(lambda noisy: noisy, [np.zeros((1, 30, 30), np.float32)], float("nan"))
