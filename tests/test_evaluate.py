"""crsae/training/evaluate.py: the denoising PSNR of a model on noisy copies of images (fixed seed)."""

import numpy as np
import pytest

from crsae.metrics import psnr
from crsae.training.evaluate import denoise_score


def test_denoise_score_on_a_flat_image(tiny_exports):
    model = tiny_exports["m2"].model()
    images = [np.full((1, 40, 44), 0.5, np.float32), np.full((1, 36, 36), 0.25, np.float32)]
    score = denoise_score(model, images, 0.1, crop=32)
    assert score.count == 2
    assert score.noisy_psnr == pytest.approx(20.0, abs=0.3)                  # sigma 0.1 on peak 1: 20 dB
    assert np.isfinite(score.denoised_psnr)
    again = denoise_score(model, images, 0.1, crop=32)
    assert (again.noisy_psnr, again.denoised_psnr) == (score.noisy_psnr, score.denoised_psnr)
    other = denoise_score(model, images, 0.1, crop=32, seed=1)
    assert other.noisy_psnr != score.noisy_psnr


def test_denoise_score_without_noise_is_the_reconstruction_psnr(tiny_exports):
    import torch
    model = tiny_exports["m2"].model()
    image = np.linspace(0, 1, 30 * 30, dtype=np.float32).reshape(1, 30, 30)
    score = denoise_score(model, [image], 0.0)
    with torch.no_grad():
        reconstruction = model(torch.from_numpy(image)[None])[0].numpy()
    assert score.noisy_psnr == float("inf")
    assert score.denoised_psnr == pytest.approx(psnr(image[None], reconstruction), rel=1e-6)
