"""Quality metrics (numpy only): the denoising PSNR of any denoiser on noisy copies of images, and dictionary recovery
on simulated data (the error metric of docs/math.md and the perturbed starting point).

err(h, h_hat) = sqrt(1 - max_shift <h, h_hat>^2) for unit-norm filters, after the best permutation of the
learned filters (sign-invariant). Filters are arrays of shape (C, channels, K) or (C, channels, K, K).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.optimize import linear_sum_assignment


def _unit(filters: np.ndarray) -> np.ndarray:
    f = np.asarray(filters, dtype=np.float64)
    return f / np.maximum(np.linalg.norm(f.reshape(len(f), -1), axis=1), 1e-12).reshape(-1, *([1] * (f.ndim - 1)))


def _max_abs_correlation(a: np.ndarray, b: np.ndarray, shift: bool) -> float:
    """max over shifts of |<a, b shifted>| for (channels, K) 1-D filters; 0 shift only for 2-D or shift=False."""
    if not shift or a.ndim != 2:
        return abs(float(np.sum(a * b)))
    full = sum(np.correlate(a[j], b[j], mode="full") for j in range(a.shape[0]))
    return float(np.max(np.abs(full)))


def filter_errors(true: np.ndarray, learned: np.ndarray, *, shift: bool = True) -> np.ndarray:
    """Per-filter recovery error after the best (sign-invariant) permutation.

    Parameters
    ----------
    true, learned : arrays of shape (C, channels, K[, K])
    shift : also maximise over relative shifts (1-D filters)

    Returns
    -------
    err : array of shape (C,), err[c] for true filter c, each in [0, 1]
    """
    a, b = _unit(true), _unit(learned)
    if a.shape != b.shape:
        raise ValueError(f"filter shapes differ: {a.shape} vs {b.shape}")
    corr = np.array([[_max_abs_correlation(a[i], b[j], shift) for j in range(len(b))] for i in range(len(a))])
    err = np.sqrt(np.clip(1 - np.minimum(corr, 1.0) ** 2, 0, 1))
    rows, cols = linear_sum_assignment(err)
    out = np.empty(len(a))
    out[rows] = err[rows, cols]
    return out


def perturb_dictionary(true: np.ndarray, *, low: float = 0.4, high: float = 0.5, seed: int = 0) -> np.ndarray:
    """Unit-norm filters whose recovery error to ``true`` (shift-invariant) lies in [low, high] per filter.

    Each filter gets noise orthogonal to it, scaled so that err = a / sqrt(1 + a^2) hits a target drawn
    uniformly from [low, high]; draws whose shifted correlation falls outside the range are redrawn.
    """
    rng = np.random.default_rng(seed)
    h = _unit(true)
    out = np.empty_like(h)
    for c in range(len(h)):
        for _ in range(1000):
            target = rng.uniform(low, high)
            n = rng.standard_normal(h[c].shape)
            n -= np.sum(n * h[c]) * h[c]
            n /= np.linalg.norm(n)
            g = h[c] + target / np.sqrt(1 - target ** 2) * n
            g /= np.linalg.norm(g)
            e = np.sqrt(max(0.0, 1 - min(_max_abs_correlation(h[c], g, True), 1.0) ** 2))
            if low <= e <= high:
                break
        out[c] = g
    return out.astype(np.float32)


def align_filter(reference: np.ndarray, filt: np.ndarray) -> np.ndarray:
    """``filt`` (K,) at unit norm, shifted (zero-filled) and sign-flipped onto ``reference`` (K,): the shift and sign
    that ``filter_errors`` maximises over, applied, for plotting a learned filter over the true one."""
    filt = np.asarray(filt, dtype=np.float64)
    filt = filt / np.linalg.norm(filt)
    corr = np.correlate(reference, filt, mode="full")
    lag = int(np.abs(corr).argmax()) - (len(filt) - 1)
    out = np.zeros_like(filt)
    if lag >= 0:
        out[lag:] = filt[:len(filt) - lag]
    else:
        out[:lag] = filt[-lag:]
    return out * np.sign(corr[lag + len(filt) - 1])


def psnr(clean: np.ndarray, estimate: np.ndarray, peak: float = 1.0) -> float:
    """10 log10(peak^2 / MSE) in dB."""
    mse = float(np.mean((np.asarray(clean, np.float64) - np.asarray(estimate, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(peak ** 2 / mse)


@dataclass(frozen=True)
class DenoiseScore:
    noisy_psnr: float       # mean over images, dB (peak 1 on [0, 1] images: 255 on 8-bit)
    denoised_psnr: float    # mean over images, dB
    count: int              # images scored


def denoise_score(denoise: Callable[[np.ndarray], np.ndarray], images: list[np.ndarray], sigma: float, *,
                  seed: int = 0, crop: int | None = None, min_size: int = 1,
                  channels: int | None = None) -> DenoiseScore:
    """Mean PSNR of noisy and denoised copies of ``images``.

    Each (channels, Hh, Ww) float32 image in [0, 1] (its centre ``crop`` x ``crop`` when given) gets
    N(0, sigma^2) noise, float32, from ``numpy.random.default_rng(seed)`` drawn image after image, so a torch model
    and its ONNX export are scored on the same noisy images. ``denoise`` maps a (1, channels, h, w) float32 batch to
    its (1, channels, h, w) estimate (not clipped). ``min_size`` and ``channels`` are the model's, checked first.
    """
    from crsae.errors import ConfigError, DataError, ShapeError
    if not images:
        raise DataError("no images to evaluate; pass a folder with images")
    if not (isinstance(sigma, (int, float)) and np.isfinite(sigma) and sigma >= 0):
        raise ConfigError(f"--noise-sigma must be a finite number >= 0, got {sigma!r}")
    smallest = min(min(image.shape[1:]) for image in images)
    if crop is not None and not 1 <= crop <= smallest:
        raise ConfigError(f"--crop {crop} must be between 1 and the smallest image side, {smallest}")
    side = smallest if crop is None else crop
    if side < min_size:
        raise ShapeError(f"images (or crops) of side {side} are smaller than the model's minimum {min_size}")
    if channels is not None and any(image.shape[0] != channels for image in images):
        raise ShapeError(f"the images have {images[0].shape[0]} channels but the model has {channels}")
    rng = np.random.default_rng(seed)
    noisy_scores, denoised_scores = [], []
    for image in images:
        clean = np.asarray(image, np.float32)[None]
        if crop is not None:
            top, left = (clean.shape[2] - crop) // 2, (clean.shape[3] - crop) // 2
            clean = clean[:, :, top:top + crop, left:left + crop]
        noisy = clean + np.float32(sigma) * rng.standard_normal(clean.shape, dtype=np.float32)
        noisy_scores.append(psnr(clean, noisy))
        denoised_scores.append(psnr(clean, denoise(noisy)))
    return DenoiseScore(float(np.mean(noisy_scores)), float(np.mean(denoised_scores)), len(images))
