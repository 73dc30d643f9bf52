"""Chunked processing of long 1-D signals (export/CONTRACT.md, "Chunking long 1-D signals").

x_T at code n depends on y only within about T (K - 1) samples of n (docs/math.md, "Receptive field and chunking"): each unrolled
step reaches K - 1 samples further. With a halo of (T + 1)(K - 1) samples on each side, every chunk's kept
outputs equal whole-signal inference up to float rounding, while memory stays bounded by the chunk.
"""

from __future__ import annotations

from typing import Iterator, NamedTuple


class Chunk(NamedTuple):
    start: int          # first kept output index (core start a)
    stop: int           # one past the last kept output index (core end b)
    window_start: int   # first input sample fed (ws)
    window_stop: int    # one past the last input sample fed (we)

    @property
    def offset(self) -> int:
        """Index of the core's first output within the window's output."""
        return self.start - self.window_start


def plan_chunks(length: int, kernel_size: int, halo: int, chunk: int, output: str) -> Iterator[Chunk]:
    """Cores and windows covering an output of a signal of ``length`` samples.

    output : "codes" (cores over the length - K + 1 codes) or "reconstruction" (cores over the length samples)
    chunk : core size in output samples, >= 1
    """
    if chunk < 1:
        raise ValueError(f"chunk must be at least 1, got {chunk}")
    extra = kernel_size - 1 if output == "codes" else 0
    total = length - extra
    for a in range(0, total, chunk):
        b = min(total, a + chunk)
        yield Chunk(a, b, max(0, a - halo), min(length, b + extra + halo))
