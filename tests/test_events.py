"""crsae/serving/events.py: events (sample, filter, amplitude) at the isolated peaks of 1-D codes."""

import numpy as np
import pytest

from crsae.serving.events import detect_events


def test_detect_events_finds_isolated_peaks():
    codes = np.zeros((2, 100))
    codes[0, [10, 11, 12]] = [0.5, 2.0, 0.7]
    codes[0, 60] = 1.0
    codes[1, 30] = -3.0
    codes[1, 90] = 0.05
    events = detect_events(codes, threshold=0.1, min_distance=5)
    assert events.tolist() == [[11, 0, 2.0], [30, 1, -3.0], [60, 0, 1.0]]


def test_threshold_and_min_distance():
    codes = np.zeros((1, 50))
    codes[0, [10, 14, 30]] = [1.0, 0.8, 0.3]
    assert detect_events(codes, threshold=0.0, min_distance=5).tolist() == [[10, 0, 1.0], [30, 0, 0.3]]
    assert detect_events(codes, threshold=0.0, min_distance=3).tolist() == [[10, 0, 1.0], [14, 0, 0.8],
                                                                            [30, 0, 0.3]]
    assert detect_events(codes, threshold=0.5, min_distance=3).tolist() == [[10, 0, 1.0], [14, 0, 0.8]]


def test_no_codes_no_events():
    events = detect_events(np.zeros((3, 40)), threshold=0.0)
    assert events.shape == (0, 3) and events.dtype == np.float64


def test_codes_must_be_filters_by_length():
    with pytest.raises(ValueError, match=r"codes must be \(filters, length\), got \(40,\)"):
        detect_events(np.zeros(40))
