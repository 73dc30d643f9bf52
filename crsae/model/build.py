"""A model from a dictionary learned elsewhere, without training: ``build_model`` (``crsae build`` calls it).

Faithful by default: the filters are kept as given (no renormalisation unless ``normalize``), lambda or the
thresholds may differ per filter, analysis and synthesis filters may be untied, and L is estimated by power
iteration on the filters as given. A dictionary imported from another CRsAE implementation (whose filters need not
have unit norm) is then the same encoder here.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from crsae.config import ModelConfig
from crsae.errors import ConfigError
from crsae.readers import load_array


def _array(name: str, value) -> np.ndarray | None:
    """An array from an array-like or a .npy path (None stays None)."""
    if value is None:
        return None
    if isinstance(value, (str, os.PathLike)):
        return load_array(Path(value))
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be numbers or a .npy file, got {value!r}") from None


def build_model(filters, *, num_layers: int = 50, lam=None, thresholds=None, sigma: float = 1.0,
                L: float | None = None, L_margin: float = 1.05, stride: int = 1, two_sided: bool = True,
                analysis=None, synthesis=None, normalize: bool = False, input_scaling: str = "none",
                L_geometry=None, seed: int = 0):
    """A :class:`~crsae.model.autoencoder.CRsAE` with the given filters, ready to export.

    Parameters
    ----------
    filters : array or .npy path, (C, channels, K) (1-D) or (C, channels, K, K) (2-D)
        The dictionary H, kept as given unless ``normalize``.
    num_layers : T, unrolled FISTA steps
    lam : float or (C,) array (or .npy path)
        lambda, one value or one per filter: thresholds b_c = lam_c sigma^2 / L (threshold_mode ``fixed``).
    thresholds : float or (C,) array (or .npy path)
        The thresholds b_c themselves instead of lambda (threshold_mode ``bias``). Pass exactly one of the two.
    sigma : noise std the thresholds refer to
    L : step constant; None: power iteration on the filters as given (the larger of H's and the analysis
        filters' ||.||_2^2), times ``L_margin``
    stride : 2-D code stride
    two_sided : soft threshold (True) or one-sided ReLU, non-negative codes (False)
    analysis, synthesis : arrays (or .npy paths) of H's shape, optional
        Untied analysis filters We and synthesis filters Wd (either defaults to H); giving one makes the model
        untied (``tied`` False).
    normalize : rescale every filter to unit l2 norm first (the original training code's convention)
    input_scaling : "none", or "unit_interval" for 8-bit images divided by 255
    L_geometry : signal length or (height, width) for the power iteration (default: ``default_L_geometry``)
    """
    from crsae.model.autoencoder import CRsAE
    H = _array("filters", filters)
    if H.ndim not in (3, 4):
        raise ConfigError(f"filters have shape {H.shape}; pass (C, channels, K) or (C, channels, K, K)")
    if H.ndim == 4 and H.shape[2] != H.shape[3]:
        raise ConfigError(f"filters are {H.shape[2]}x{H.shape[3]}; only square 2-D filters are supported")
    if (lam is None) == (thresholds is None):
        raise ConfigError("pass exactly one of lam (thresholds lam sigma^2 / L) or thresholds")
    lam, thresholds = _array("lam", lam), _array("thresholds", thresholds)
    analysis, synthesis = _array("analysis", analysis), _array("synthesis", synthesis)
    tied = analysis is None and synthesis is None
    per_filter = lam if lam is not None else thresholds
    if per_filter.ndim > 1 or (per_filter.ndim == 1 and per_filter.shape[0] not in (1, H.shape[0])):
        raise ConfigError(f"{'lam' if lam is not None else 'thresholds'} has {per_filter.size} values but there "
                          f"are {H.shape[0]} filters; pass one value, or one per filter")
    per_filter = np.broadcast_to(per_filter.reshape(-1), (H.shape[0],))
    lam_init = float(np.mean(per_filter)) if lam is not None else 1.0
    config = ModelConfig(kind="1d" if H.ndim == 3 else "2d", channels=H.shape[1], num_filters=H.shape[0],
                         kernel_size=H.shape[-1], stride=stride, num_layers=num_layers, L=L, L_margin=L_margin,
                         sigma=sigma, threshold_mode="fixed" if lam is not None else "bias",
                         lam_init=lam_init if lam_init > 0 else 1.0, two_sided=two_sided, tied=tied,
                         input_scaling=input_scaling)
    return CRsAE(config, H, lam=per_filter if lam is not None else None,
                 bias=per_filter if thresholds is not None else None, analysis=analysis, synthesis=synthesis,
                 normalize=normalize, L_geometry=L_geometry, seed=seed).eval()
