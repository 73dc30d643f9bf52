"""crsae/serving/chunking.py: the cores and windows that cover a long 1-D signal's output."""

import pytest

from crsae.serving.chunking import Chunk, plan_chunks


def test_plan_chunks_covers_output_exactly():
    for output, total in (("codes", 100 - 8 + 1), ("reconstruction", 100)):
        pieces = list(plan_chunks(100, 8, 15, 17, output))
        assert pieces[0].start == 0 and pieces[-1].stop == total
        assert all(a.stop == b.start for a, b in zip(pieces, pieces[1:]))
        assert all(0 <= p.window_start <= p.start and p.window_stop <= 100 for p in pieces)


def test_windows_carry_the_halo_and_the_kernel():
    """Each window reaches ``halo`` samples beyond its core on both sides (clipped to the signal), and for codes
    K - 1 more on the right, since code n reads samples n .. n + K - 1."""
    codes = list(plan_chunks(100, 8, 15, 40, "codes"))
    assert codes == [Chunk(0, 40, 0, 62), Chunk(40, 80, 25, 100), Chunk(80, 93, 65, 100)]
    assert [c.offset for c in codes] == [0, 15, 15]
    recon = list(plan_chunks(100, 8, 15, 40, "reconstruction"))
    assert recon == [Chunk(0, 40, 0, 55), Chunk(40, 80, 25, 95), Chunk(80, 100, 65, 100)]


def test_one_chunk_covers_a_short_signal():
    assert list(plan_chunks(50, 5, 100, 1000, "codes")) == [Chunk(0, 46, 0, 50)]


@pytest.mark.parametrize("chunk", [0, -3])
def test_chunk_below_one_is_refused(chunk):
    with pytest.raises(ValueError, match=f"chunk must be at least 1, got {chunk}"):
        list(plan_chunks(100, 8, 15, chunk, "codes"))
