"""Events from 1-D codes: (sample index, filter, amplitude) of every local code peak.

A code x_c[n] is an event when |x_c[n]| > threshold and it is the largest |x_c| within ``min_distance`` samples
on either side (one event per filter occurrence, as codes spread around an event). Index n is where the filter
starts in the signal ("valid" analysis).
"""

from __future__ import annotations

import numpy as np


def detect_events(codes: np.ndarray, *, threshold: float = 0.0, min_distance: int = 1) -> np.ndarray:
    """codes (C, M) -> events (E, 3) float64 rows (sample, filter, amplitude), sorted by sample."""
    from scipy.ndimage import maximum_filter1d      # here, not at import: scipy.ndimage costs ~0.6 s to load
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2:
        raise ValueError(f"codes must be (filters, length), got {codes.shape}")
    magnitude = np.abs(codes)
    peak = maximum_filter1d(magnitude, size=2 * max(min_distance, 0) + 1, axis=1, mode="constant")
    filt, sample = np.nonzero((magnitude > threshold) & (magnitude == peak) & (magnitude > 0))
    order = np.lexsort((filt, sample))
    return np.column_stack([sample[order], filt[order], codes[filt[order], sample[order]]])
