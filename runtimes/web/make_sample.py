"""Write sample.png: the page's built-in image, a synthetic 192 x 192 test pattern (no licence strings attached).

Oriented chirped stripes (top left), a disc and a ring (top right), a checkerboard (bottom left) and a smooth
random texture (bottom right) over a colour gradient, anti-aliased by 4x supersampling. Seeded, so re-running
it rewrites the same file. crsae.exporter.golden crops the 2-D golden input from it.

    .venv/bin/python runtimes/web/make_sample.py
"""

from pathlib import Path

import numpy as np
from PIL import Image

SIZE, SUPER = 192, 4


def pattern(size: int, rng: np.random.Generator) -> np.ndarray:
    """(size, size, 3) in [0, 1], drawn on a size x size grid of unit-square coordinates u, v."""
    v, u = (np.mgrid[0:size, 0:size] + 0.5) / size
    rgb = np.stack([0.25 + 0.4 * u, 0.3 + 0.3 * v, 0.55 - 0.25 * u], axis=-1)

    def paint(mask, colour):
        rgb[mask] = colour

    # top left: stripes at 30 degrees whose period shrinks from 14 to 4 pixels (of the final image)
    stripes = (u < 0.48) & (v < 0.48)
    t = (np.cos(np.pi / 6) * u + np.sin(np.pi / 6) * v) * SIZE
    period = 14 - 10 * v / 0.48
    wave = 0.5 + 0.42 * np.sin(2 * np.pi * t / period)
    paint(stripes, np.stack([wave] * 3, axis=-1)[stripes])
    # top right: a disc and a ring
    paint(np.hypot(u - 0.66, v - 0.2) < 0.12, (0.95, 0.85, 0.3))
    paint(np.abs(np.hypot(u - 0.82, v - 0.33) - 0.11) < 0.025, (0.1, 0.15, 0.35))
    # bottom left: checkerboard of 8-pixel cells
    board = (u > 0.04) & (u < 0.46) & (v > 0.54) & (v < 0.96)
    on = ((np.floor(u * SIZE / 8) + np.floor(v * SIZE / 8)) % 2) == 0
    paint(board & on, (0.9, 0.9, 0.85))
    paint(board & ~on, (0.12, 0.2, 0.3))
    # bottom right: smooth random texture (low-pass filtered noise)
    texture = (u > 0.54) & (u < 0.96) & (v > 0.54) & (v < 0.96)
    noise = rng.standard_normal((size, size))
    f = np.fft.fftfreq(size)
    lowpass = np.exp(-(f[:, None] ** 2 + f[None, :] ** 2) / (2 * (4.0 / SIZE) ** 2))
    smooth = np.real(np.fft.ifft2(np.fft.fft2(noise) * lowpass))
    smooth = 0.5 + 0.35 * smooth / np.abs(smooth).max()
    paint(texture, np.stack([smooth, 0.8 * smooth + 0.1, 0.6 * smooth + 0.2], axis=-1)[texture])
    return rgb


def main() -> None:
    big = pattern(SIZE * SUPER, np.random.default_rng(2019))
    small = big.reshape(SIZE, SUPER, SIZE, SUPER, 3).mean(axis=(1, 3))
    pixels = np.round(255 * np.clip(small, 0, 1)).astype(np.uint8)
    out = Path(__file__).resolve().parent / "sample.png"
    Image.fromarray(pixels, "RGB").save(out, optimize=True)
    print(f"wrote {out} ({out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
