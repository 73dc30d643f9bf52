"""Denoising evaluation of a trained model: PSNR (``crsae.metrics.psnr``, peak 1 on [0, 1] images, i.e. 255 on
8-bit) of noisy and denoised images."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from crsae.metrics import psnr
from crsae.model.autoencoder import CRsAE


@dataclass
class DenoiseScore:
    noisy_psnr: float       # mean over images, dB
    denoised_psnr: float    # mean over images, dB
    count: int


@torch.no_grad()
def denoise_score(model: CRsAE, images: list[np.ndarray], sigma: float, *, seed: int = 0,
                  crop: int | None = None) -> DenoiseScore:
    """Add N(0, sigma^2) noise (fixed seed) to each (channels, Hh, Ww) image in [0, 1], denoise with the model's
    reconstruction, and average the PSNRs. ``crop`` takes the centre crop x crop of each image first."""
    from crsae.errors import ConfigError, DataError, ShapeError
    if model.config.kind != "2d":
        raise ConfigError("denoising PSNR is for 2-D (image) models; this checkpoint is 1-D")
    if not images:
        raise DataError("no images to evaluate; pass a folder with images")
    if not (isinstance(sigma, (int, float)) and np.isfinite(sigma) and sigma >= 0):
        raise ConfigError(f"--noise-sigma must be a finite number >= 0, got {sigma!r}")
    smallest = min(min(image.shape[1:]) for image in images)
    if crop is not None and not 1 <= crop <= smallest:
        raise ConfigError(f"--crop {crop} must be between 1 and the smallest image side, {smallest}")
    if min(smallest if crop is None else crop, smallest) < model.config.min_size:
        raise ShapeError(f"images (or crops) of side {smallest if crop is None else crop} are smaller than the "
                         f"model's minimum {model.config.min_size}")
    if any(image.shape[0] != model.config.channels for image in images):
        raise ShapeError(f"the images have {images[0].shape[0]} channels but the model has {model.config.channels}")
    generator = torch.Generator().manual_seed(seed)
    noisy_scores, denoised_scores = [], []
    for image in images:
        clean = torch.as_tensor(image)[None]
        if crop is not None:
            top, left = (clean.shape[2] - crop) // 2, (clean.shape[3] - crop) // 2
            clean = clean[:, :, top:top + crop, left:left + crop]
        noisy = clean + sigma * torch.randn(clean.shape, generator=generator)
        denoised = model(noisy)[0]
        noisy_scores.append(psnr(clean.numpy(), noisy.numpy()))
        denoised_scores.append(psnr(clean.numpy(), denoised.numpy()))
    return DenoiseScore(float(np.mean(noisy_scores)), float(np.mean(denoised_scores)), len(images))
