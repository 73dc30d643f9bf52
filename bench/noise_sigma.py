"""Noise-adaptive thresholds (issue 15, part 3): one model at several noise levels, thresholds frozen vs given vs
estimated.

For a model exported with ``crsae export --noise-input`` and a folder of test images (BSD68), adds seeded Gaussian
noise at each sigma (0-255 scale, unclipped, as ``crsae evaluate``) and reports the mean PSNR (peak 255) of

- ``frozen``: the thresholds of the sigma the model was trained at (the export's metadata sigma),
- ``given``:  the thresholds of the true sigma (b = lam sigma^2 / L, the graph's noise_sigma input),
- ``auto``:   the thresholds of each image's own estimate (Donoho's MAD, computed in the graph),

with the mean estimate / sigma, so the bias of the estimator shows beside its cost in dB; ``--scan`` adds the
thresholds of other levels (multiples of the true sigma), which shows how the best thresholds really scale with the
noise (b = lam sigma^2 / L assumes sigma^2; CDLNet's are affine in sigma). Runs under onnxruntime
(``crsae.Encoder``); prints a table and writes bench/results/noise_sigma.json.

    .venv/bin/python bench/noise_sigma.py --model export/models/image2d_sigma.onnx --data ../shared/data/BSD68
    .venv/bin/python bench/noise_sigma.py --model M.onnx --data ../shared/data/BSD68 --max-images 8 --crop 128
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import pin_threads, versions, write_json  # noqa: E402

THREADS = pin_threads(1)

import numpy as np  # noqa: E402
import torch  # noqa: E402

from crsae.metrics import psnr  # noqa: E402
from crsae.model.noise import estimate_noise_sigma  # noqa: E402
from crsae.readers import load_images  # noqa: E402
from crsae.serving.runtime import Encoder  # noqa: E402


def centre_crop(image: np.ndarray, side: int) -> np.ndarray:
    """The centre side x side of a (channels, Hh, Ww) image."""
    top, left = (image.shape[1] - side) // 2, (image.shape[2] - side) // 2
    return image[:, top:top + side, left:left + side]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a 2-D export made with crsae export --noise-input")
    parser.add_argument("--data", required=True, help="folder of clean test images (BSD68)")
    parser.add_argument("--sigmas", default="15,20,25,50", help="noise std on the 0-255 scale, comma-separated")
    parser.add_argument("--max-images", type=int, default=None)
    parser.add_argument("--crop", type=int, default=None, help="centre crop side (faster)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--scan", default="", help="also thresholds for these multiples of sigma, e.g. 0.6,0.8,1.2")
    parser.add_argument("--output", default="noise_sigma.json", help="file name under bench/results/")
    args = parser.parse_args()

    encoder = Encoder(args.model, device="cpu", threads=THREADS)
    if not encoder.noise_input:
        sys.exit(f"error: {args.model} has no noise_sigma input; export it with crsae export --noise-input")
    meta = encoder.metadata
    images = load_images(args.data, meta["channels"], args.max_images)
    if args.crop:
        images = [centre_crop(im, args.crop) for im in images]
    trained = 255 * meta["sigma"]
    print(f"{Path(args.model).name}: {meta['num_filters']} filters {meta['kernel_size']}x{meta['kernel_size']}, "
          f"stride {meta['stride']}, T = {meta['num_layers']}, trained at sigma {trained:.4g}; {len(images)} images"
          f"{f' (centre {args.crop}x{args.crop})' if args.crop else ''}, {THREADS} thread(s), "
          f"load {os.getloadavg()[0]:.2f}")
    print(f"{'sigma':>5} {'noisy':>7} {'frozen':>7} {'given':>7} {'auto':>7} {'given-frozen':>12} "
          f"{'auto-given':>10} {'est/sigma':>9}")
    scan = [float(f) for f in args.scan.split(",") if f]
    rows = []
    start = time.perf_counter()
    for sigma in (float(s) for s in args.sigmas.split(",")):
        rng = np.random.default_rng([args.seed, int(round(100 * sigma))])
        scores = {k: [] for k in ["noisy", "frozen", "given", "auto"] + [f"x{f:g}" for f in scan]}
        ratios = []
        for image in images:
            clean = image[None].astype(np.float32)
            noisy = (clean + sigma / 255 * rng.standard_normal(clean.shape)).astype(np.float32)
            scores["noisy"].append(psnr(clean, noisy))
            levels = [("frozen", None), ("given", sigma / 255), ("auto", "auto")]
            for name, level in levels + [(f"x{f:g}", f * sigma / 255) for f in scan]:
                scores[name].append(psnr(clean, encoder.reconstruct(noisy, noise_sigma=level)))
            ratios.append(float(estimate_noise_sigma(torch.from_numpy(noisy)).item()) * 255 / sigma)
        mean = {k: float(np.mean(v)) for k, v in scores.items()}
        row = {"sigma": sigma, **mean, "estimate_over_sigma": float(np.mean(ratios)),
               "estimate_over_sigma_worst": float(np.max(np.abs(np.array(ratios) - 1)) + 1),
               "load": os.getloadavg()[0]}
        rows.append(row)
        print(f"{sigma:5.0f} {mean['noisy']:7.2f} {mean['frozen']:7.2f} {mean['given']:7.2f} {mean['auto']:7.2f} "
              f"{mean['given'] - mean['frozen']:+12.2f} {mean['auto'] - mean['given']:+10.2f} "
              f"{row['estimate_over_sigma']:9.3f}"
              + "".join(f"  {k} {v:.2f}" for k, v in mean.items() if k.startswith("x")))
    path = write_json(args.output, {
        "model": str(args.model), "data": str(args.data), "images": len(images), "crop": args.crop,
        "trained_sigma": trained, "seed": args.seed, "threads": THREADS, "rows": rows,
        "seconds": round(time.perf_counter() - start, 1), "versions": versions()})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
