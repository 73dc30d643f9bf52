"""crsae/serving/events.py: events (sample, filter, amplitude) at the isolated peaks of 1-D codes."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crsae.serving.events import EventStream, detect_events


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


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), filters=st.integers(1, 3), length=st.integers(1, 300),
       distance=st.integers(0, 15), threshold=st.sampled_from([0.0, 0.4]), cuts=st.lists(st.integers(0, 300),
                                                                                          max_size=8))
def test_event_stream_over_blocks_equals_detect_events_on_the_whole(seed, filters, length, distance, threshold,
                                                                    cuts):
    """Blocks of any sizes (empty, one column, shorter than min_distance), peaks on and across the boundaries,
    ties: the stream's events are exactly the whole-codes events, in the same order."""
    rng = np.random.default_rng(seed)
    codes = np.round(rng.standard_normal((filters, length)) * (rng.random((filters, length)) < 0.3), 1)
    stream = EventStream(threshold=threshold, min_distance=distance)
    blocks = np.split(codes, sorted(c for c in cuts if c <= length), axis=1)
    got = np.concatenate([stream.push(block) for block in blocks] + [stream.close()])
    np.testing.assert_array_equal(got, detect_events(codes, threshold=threshold, min_distance=distance))


def test_event_stream_holds_only_the_overlap():
    stream = EventStream(min_distance=4)
    for _ in range(50):
        stream.push(np.ones((2, 100)))
        assert stream._carry.shape[1] <= 2 * 4
