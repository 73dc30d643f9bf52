"""The noise level of a signal, estimated from the signal itself: Donoho's median-absolute-deviation estimator.

White Gaussian noise of std sigma puts coefficients of std sigma into every band of an orthonormal wavelet
transform, while a piecewise-smooth signal leaves its finest detail band sparse. So (Donoho & Johnstone,
"Ideal spatial adaptation by wavelet shrinkage", Biometrika 1994)

    sigma_hat = median(|d|) / 0.6745

over the finest Haar (Daubechies-1) detail coefficients d; 0.6745 is the median of |N(0, 1)|. 2-D: the diagonal
band d = (y[2i, 2j] - y[2i, 2j+1] - y[2i+1, 2j] + y[2i+1, 2j+1]) / 2 of non-overlapping 2 x 2 blocks; 1-D:
d = (y[2n+1] - y[2n]) / sqrt(2). An odd last row, column or sample is left out. Texture and edges also reach the
finest band, so the estimate is biased upwards on textured images (README, "Noise-adaptive thresholds").

This is the estimate the exported graph computes when it is given a negative ``noise_sigma`` (export/CONTRACT.md),
written in torch so that it is traced into the graph and every runtime gets it.
"""

from __future__ import annotations

import math

import torch

MAD_TO_SIGMA = 0.6745                   # median |N(0, 1)|: median(|d|) / 0.6745 estimates the std of Gaussian d


def finest_detail(y: torch.Tensor) -> torch.Tensor:
    """The finest Haar detail coefficients of each item, all channels pooled: (B, channels, *size) -> (B, n)."""
    if y.dim() == 3:
        n = y.shape[2] // 2
        d = (y[:, :, 1:2 * n:2] - y[:, :, 0:2 * n:2]) * (1 / math.sqrt(2))
    else:
        h, w = y.shape[2] // 2, y.shape[3] // 2
        even, odd = y[:, :, 0:2 * h:2], y[:, :, 1:2 * h:2]
        d = ((even[..., 0:2 * w:2] - even[..., 1:2 * w:2]) - (odd[..., 0:2 * w:2] - odd[..., 1:2 * w:2])) * 0.5
    return d.reshape(y.shape[0], -1)


def estimate_noise_sigma(y: torch.Tensor) -> torch.Tensor:
    """Donoho's estimate of the noise std of each item: (B, channels, *size) -> (B,), in the signal's units.

    The median of an even count is the mean of the two middle values (as numpy's). Needs at least 2 samples
    (1-D) or 2 x 2 pixels (2-D), which every model's ``min_size`` exceeds.
    """
    d = finest_detail(y).abs()
    n = d.shape[1]
    ordered = torch.sort(d, dim=1).values                              # traced as one TopK
    return (ordered[:, (n - 1) // 2] + ordered[:, n // 2]) * (0.5 / MAD_TO_SIGMA)
