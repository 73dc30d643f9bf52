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


class EventStream:
    """``detect_events`` over codes (C, M) that arrive as consecutive column blocks (a long recording's chunks):
    ``push`` returns the events it can now decide, ``close`` the rest. Together they are exactly the events, in the
    same order, that ``detect_events`` finds on the whole codes (an event straddling a block boundary included),
    while only the last 2 * min_distance columns are held between blocks.

    A position n is decided once the codes up to n + min_distance are known; its peak test then sees the same
    window as on the whole codes (beyond the ends, zeros, as ``detect_events``' constant mode pads). Sample
    indices are absolute (from the first column pushed)."""

    def __init__(self, *, threshold: float = 0.0, min_distance: int = 1):
        self.threshold, self.distance = threshold, max(int(min_distance), 0)
        self._carry: np.ndarray | None = None   # columns [self._start, self._end) held back
        self._start = self._end = 0
        self._decided = 0                       # events at positions < _decided are out

    def push(self, block: np.ndarray) -> np.ndarray:
        """The next columns (C, n) -> events (E, 3) now decided, rows (sample, filter, amplitude)."""
        block = np.asarray(block)
        codes = block if self._carry is None else np.concatenate([self._carry, block], axis=1)
        self._end += block.shape[1]
        events = self._decide(codes, self._end - self.distance)
        keep = max(self._start, self._decided - self.distance)
        self._carry, self._start = codes[:, keep - self._start:], keep
        return events

    def close(self) -> np.ndarray:
        """Events at the last positions (nothing follows them)."""
        if self._carry is None:
            return np.zeros((0, 3))
        events = self._decide(self._carry, self._end)
        self._carry = None
        return events

    def _decide(self, codes: np.ndarray, upto: int) -> np.ndarray:
        """Events at positions [_decided, upto) of ``codes`` (columns [_start, _end))."""
        lo = self._decided
        if upto <= lo:
            return np.zeros((0, 3))
        first = max(self._start, lo - self.distance)
        window = codes[:, first - self._start:min(self._end, upto + self.distance) - self._start]
        rows = detect_events(window, threshold=self.threshold, min_distance=self.distance)
        rows[:, 0] += first
        self._decided = upto
        return rows[(rows[:, 0] >= lo) & (rows[:, 0] < upto)]
